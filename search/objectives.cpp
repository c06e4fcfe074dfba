#include "search/objectives.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "search/metrics.hpp"

namespace deeper::search {

double mnasnet_reward(const Reward& r, double metric, double cost) {
    const double w = r.hard ? (cost <= r.target ? 0.0 : -1.0) : r.w;
    return metric * std::pow(cost / r.target, w);
}

std::vector<double> objective_values(const SearchSpec& s, const MetricLookup& metric) {
    if (s.reward) return {mnasnet_reward(*s.reward, metric(s.reward->metric), metric(s.reward->cost))};
    std::vector<double> v;
    for (const auto& o : s.objectives) v.push_back(metric(o.metric));
    return v;
}

Losses objective_losses(const SearchSpec& s, const std::vector<double>& values) {
    Losses l;
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i])) return {};
        l.push_back(s.objectives[i].minimize ? values[i] : -values[i]);
    }
    return l;
}

std::vector<std::string> cost_metrics(const SearchSpec& s) {
    std::vector<std::string> m;
    for (const auto& [metric, bound] : s.constraints) m.push_back(metric);
    auto add = [&](const std::string& name) {
        if (std::find(m.begin(), m.end(), name) == m.end()) m.push_back(name);
    };
    if (s.reward) add(s.reward->cost);
    for (const auto& o : s.objectives)  // known before training: counted once, not trained for
        if (const MetricInfo* info = find_metric(o.metric); info && info->known == Known::before_training) add(o.metric);
    return m;
}

std::optional<std::string> broken_constraint(const SearchSpec& s, const MetricLookup& metric) {
    for (const auto& [name, bound] : s.constraints) {
        const double v = metric(name);
        if (!(v <= bound)) return fmt::format("{} {} > max_{} {}", name, v, name, bound);
    }
    return std::nullopt;
}

}  // namespace deeper::search
