#include "runners/experiment/figures.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "runners/experiment/trial_values.hpp"
#include "search/metrics.hpp"
#include "runners/train/epoch_metrics.hpp"

namespace deeper::runners {

namespace {

bool repeats_only(const std::string& key) { return key == "seed" || key == "repeat"; }

// The swept values and labels of a trial but its seed: the value alone when there is one
// ("resnet56"), key=value pairs when there are several ("shortcut=B se_ratio=0.25"); "" when
// only seeds were swept.
std::string configuration_label(const TrialRecord& r) {
    std::vector<std::pair<std::string, std::string>> kv;
    for (const auto& k : r.swept)
        if (!repeats_only(k)) kv.emplace_back(k, setting(r, k));
    for (const auto& [k, v] : r.labels)
        if (!repeats_only(k)) kv.emplace_back(k, v);
    if (kv.size() == 1) return kv[0].second;
    std::string c;
    for (const auto& [k, v] : kv) c += (c.empty() ? "" : " ") + k + "=" + v;
    return c;
}

bool in_plot(const TrialRecord& r, const search::ReportPlot& p) { return p.stage.empty() || r.stage == p.stage; }

// Whether the plot shows trials of more than one stage (then its groups name their stage).
bool spans_stages(const std::vector<TrialRecord>& records, const search::ReportPlot& p) {
    const std::string* first = nullptr;
    for (const auto& r : records) {
        if (!in_plot(r, p)) continue;
        if (first && *first != r.stage) return true;
        first = &r.stage;
    }
    return false;
}

// What a trial is plotted under: the plot's group setting, else its configuration (with its
// stage when the plot spans several).
std::string group_of(const TrialRecord& r, const search::ReportPlot& p, bool with_stage) {
    if (!p.group.empty()) return setting(r, p.group);
    const std::string c = configuration_label(r);
    if (c.empty()) return r.stage;
    return with_stage ? r.stage + " " + c : c;
}

// Keys in first-seen order with their values pooled.
template <class V>
struct Ordered {
    std::vector<std::string> keys;
    std::map<std::string, V> values;
    V& operator[](const std::string& k) {
        if (!values.count(k)) keys.push_back(k);
        return values[k];
    }
};

Point pooled(double x, const std::vector<double>& ys) {
    const Spread s = spread(ys);
    return {x, s.mean, s.std};
}

std::string with_count(const std::string& name, std::size_t n) {
    return n > 1 ? fmt::format("{} (n={})", name, n) : name;
}

std::vector<Series> curves(const std::vector<TrialRecord>& records, const search::ReportPlot& p) {
    Ordered<std::map<double, std::vector<double>>> groups;  // group -> epoch -> values
    Ordered<std::size_t> trials;
    const bool with_stage = spans_stages(records, p);
    for (const auto& r : records) {
        if (!in_plot(r, p) || r.epochs.empty()) continue;
        const std::string g = group_of(r, p, with_stage);
        auto& by_epoch = groups[g];
        ++trials[g];
        for (const auto& ep : r.epochs) by_epoch[epoch_metric(ep, "epoch")].push_back(epoch_metric(ep, p.metric));
    }
    std::vector<Series> out;
    for (const auto& g : groups.keys) {
        Series s{with_count(g, trials.values[g]), {}};
        for (const auto& [epoch, ys] : groups.values[g]) s.points.push_back(pooled(epoch, ys));
        out.push_back(std::move(s));
    }
    return out;
}

// The points no other point beats on both x and y (each its own way; ties are kept).
std::vector<Point> pareto_front(const std::vector<Point>& points, bool x_lower_better, bool y_lower_better) {
    auto at_least_as_good = [](double a, double b, bool lower) { return lower ? a <= b : a >= b; };
    std::vector<Point> front;
    for (const auto& p : points) {
        if (!std::isfinite(p.x) || !std::isfinite(p.y)) continue;
        const bool beaten = std::any_of(points.begin(), points.end(), [&](const Point& q) {
            return std::isfinite(q.x) && std::isfinite(q.y) && at_least_as_good(q.x, p.x, x_lower_better) &&
                   at_least_as_good(q.y, p.y, y_lower_better) && (q.x != p.x || q.y != p.y);
        });
        if (!beaten) front.push_back(p);
    }
    return front;
}

std::vector<Series> scatter(const std::vector<TrialRecord>& records, const search::ReportPlot& p) {
    const std::string& x_key = p.x;
    struct Config {
        double x = NAN;
        std::vector<double> ys;
    };
    Ordered<Ordered<Config>> groups;  // group -> configuration -> its trials
    Ordered<Config> origin;           // the origin stage's configurations, in every group
    const bool with_stage = spans_stages(records, p);
    for (const auto& r : records) {
        if (r.status != "done") continue;
        const bool at_origin = !p.origin.empty() && r.stage == p.origin;
        if (!in_plot(r, p) && !at_origin) continue;
        Config& c = at_origin ? origin[configuration_label(r)]
                              : groups[group_of(r, p, with_stage)][r.stage + '\x1f' + configuration_label(r)];
        c.x = r.result.count(x_key) ? r.result.at(x_key) : NAN;
        c.ys.push_back(final_metric(r, p.metric));
    }
    std::vector<Series> out;
    for (const auto& g : groups.keys) {
        auto& configs = groups.values[g];
        std::size_t n = 0;
        Series s{g, {}};
        for (const auto& k : origin.keys) s.points.push_back(pooled(origin.values[k].x, origin.values[k].ys));
        for (const auto& k : configs.keys) {
            const Config& c = configs.values[k];
            s.points.push_back(pooled(c.x, c.ys));
            n = std::max(n, c.ys.size());
        }
        s.name = with_count(g, n);
        if (p.front) s.front = pareto_front(s.points, search::lower_is_better(p.x), search::lower_is_better(p.metric));
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace

std::vector<Series> plot_series(const std::vector<TrialRecord>& records, const search::ReportPlot& p) {
    return p.kind == "curves" ? curves(records, p) : scatter(records, p);
}

std::vector<Category> plot_categories(const std::vector<TrialRecord>& records, const search::ReportPlot& p) {
    Ordered<std::vector<double>> groups;
    const bool with_stage = spans_stages(records, p);
    for (const auto& r : records)
        if (in_plot(r, p) && r.status == "done")
            groups[group_of(r, p, with_stage)].push_back(final_metric(r, p.metric));
    std::vector<Category> out;
    for (const auto& g : groups.keys) {
        const auto& v = groups.values[g];
        const Spread s = spread(v);
        out.push_back({with_count(g, s.n), v, s.mean, s.std});
    }
    return out;
}

}  // namespace deeper::runners
