#pragma once
// The metrics of one epoch and the single list of their names: metrics.csv, the journal's
// epoch events, curves.csv, results.csv and the plots all go through visit_epoch_metrics.
#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace deeper::runners {

struct EpochMetrics {
    int epoch = 0;  // 1-based
    double lr = 0;
    double train_loss = 0, train_top1 = 0;          // running over the epoch, training mode
    double val_loss = 0, val_top1 = 0, val_top5 = 0;
    double train_eval_loss = 0, train_eval_top1 = 0;  // eval mode, fixed training subset
    double epoch_s = 0, img_per_s = 0;

    // The training error of the ResNet degradation plots.
    double train_eval_error() const { return 1 - train_eval_top1; }
};

// Every metric by name, in column order (train_eval_error derived from train_eval_top1).
template <class F>
void visit_epoch_metrics(const EpochMetrics& m, F&& f) {
    f("epoch", double(m.epoch));
    f("lr", m.lr);
    f("train_loss", m.train_loss);
    f("train_top1", m.train_top1);
    f("val_loss", m.val_loss);
    f("val_top1", m.val_top1);
    f("val_top5", m.val_top5);
    f("train_eval_loss", m.train_eval_loss);
    f("train_eval_top1", m.train_eval_top1);
    f("train_eval_error", m.train_eval_error());
    f("epoch_s", m.epoch_s);
    f("img_per_s", m.img_per_s);
}

inline const std::vector<std::string>& epoch_metric_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        visit_epoch_metrics(EpochMetrics{}, [&](const char* name, double) { v.emplace_back(name); });
        return v;
    }();
    return names;
}

// A metric of an epoch by name; NAN for an unknown name.
inline double epoch_metric_of(const EpochMetrics& m, const std::string& name) {
    double v = NAN;
    visit_epoch_metrics(m, [&](const char* n, double x) {
        if (name == n) v = x;
    });
    return v;
}

// A metric from an epoch as the journal stores it (name -> value); NAN when absent.
// train_eval_error is derived where an older journal did not store it.
inline double epoch_metric(const std::map<std::string, double>& epoch, const std::string& name) {
    if (auto it = epoch.find(name); it != epoch.end()) return it->second;
    if (name == "train_eval_error")
        if (auto it = epoch.find("train_eval_top1"); it != epoch.end()) return 1 - it->second;
    return NAN;
}

}  // namespace deeper::runners
