#include "runners/experiment/trial_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "runners/table.hpp"
#include "runners/train/epoch_metrics.hpp"
#include "search/metrics.hpp"

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
    const bool lower = search::lower_is_better(metric);
    for (const auto& ep : r.epochs)
        if (const double v = epoch_metric(ep, metric); lower ? v <= threshold : v >= threshold)
            return epoch_metric(ep, "epoch");
    return NAN;
}

const TrialRecord* best_trial(const std::vector<TrialRecord>& records, const std::string& stage,
                              const std::string& metric) {
    const bool lower = search::lower_is_better(metric);
    auto better = [&](double a, double b) { return lower ? a < b : a > b; };
    std::vector<std::map<std::string, std::string>> configs;  // first-seen order breaks ties
    std::vector<std::vector<const TrialRecord*>> trials;
    for (const auto& r : records) {
        if (r.stage != stage || r.status != "done" || std::isnan(final_metric(r, metric))) continue;
        auto config = r.settings;
        config.erase("seed");
        const auto it = std::find(configs.begin(), configs.end(), config);
        if (it == configs.end()) {
            configs.push_back(std::move(config));
            trials.push_back({&r});
        } else {
            trials[std::size_t(it - configs.begin())].push_back(&r);
        }
    }
    const std::vector<const TrialRecord*>* best_config = nullptr;
    double best_mean = NAN;
    for (const auto& t : trials) {
        std::vector<double> v;
        for (const auto* r : t) v.push_back(final_metric(*r, metric));
        if (const double mean = spread(v).mean; !best_config || better(mean, best_mean)) best_config = &t, best_mean = mean;
    }
    if (!best_config) return nullptr;
    const TrialRecord* best = nullptr;
    for (const auto* r : *best_config)
        if (!best || better(final_metric(*r, metric), final_metric(*best, metric))) best = r;
    return best;
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
