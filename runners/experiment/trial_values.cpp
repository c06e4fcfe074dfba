#include "runners/experiment/trial_values.hpp"

#include <fmt/format.h>

#include <cmath>

#include "runners/table.hpp"
#include "runners/train/epoch_metrics.hpp"

namespace deeper::runners {

std::string setting(const TrialRecord& r, const std::string& key) {
    if (auto it = r.settings.find(key); it != r.settings.end()) return it->second;
    if (auto it = r.labels.find(key); it != r.labels.end()) return it->second;
    if (key == "stage") return r.stage;
    return "";
}

double best_val_top1(const TrialRecord& r) {
    double best = NAN;
    for (const auto& ep : r.epochs)
        if (const double v = epoch_metric(ep, "val_top1"); !(v <= best)) best = v;
    return best;
}

double final_metric(const TrialRecord& r, const std::string& m) {
    if (m == "best_val_top1") return best_val_top1(r);
    if (auto it = r.result.find(m); it != r.result.end()) return it->second;
    return r.epochs.empty() ? NAN : epoch_metric(r.epochs.back(), m);
}

double epochs_to_reach(const TrialRecord& r, const std::string& metric, double threshold) {
    const bool lower = lower_is_better(metric);
    for (const auto& ep : r.epochs)
        if (const double v = epoch_metric(ep, metric); lower ? v <= threshold : v >= threshold)
            return epoch_metric(ep, "epoch");
    return NAN;
}

Spread spread(const std::vector<double>& values) {
    Spread s;
    double sum = 0;
    for (double v : values)
        if (std::isfinite(v)) sum += v, ++s.n;
    if (s.n == 0) return s;
    s.mean = sum / double(s.n);
    if (s.n < 2) return s;
    double sq = 0;
    for (double v : values)
        if (std::isfinite(v)) sq += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(sq / double(s.n - 1));
    return s;
}

std::string spread_text(const Spread& s) {
    if (s.n == 0) return "";
    const bool whole = std::abs(s.mean) < 9e15 && s.mean == std::round(s.mean) && !(s.std > 0);
    if (whole) {  // a count the seeds share (MACs, parameters, epochs to reach)
        const std::string v = with_thousands(std::int64_t(s.mean));
        return s.n == 1 ? v : fmt::format("{} (n={})", v, s.n);
    }
    if (s.n == 1) return fmt::format("{:.4f}", s.mean);
    return fmt::format("{:.4f} ± {:.4f} (n={})", s.mean, s.std, s.n);
}

}  // namespace deeper::runners
