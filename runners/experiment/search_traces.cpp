#include "runners/experiment/search_traces.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "runners/experiment/search_runner.hpp"
#include "search/config_id.hpp"
#include "search/objectives.hpp"

namespace deeper::runners {

double true_metric(const TrialRecord& r, const std::string& metric) {
    if (const auto it = r.result.find("table_mean_" + metric); it != r.result.end()) return it->second;
    return search_metric(r, metric);
}

std::vector<Trace> traces_of(const std::vector<TrialRecord>& records, const search::Stage& s) {
    const search::SearchSpec& x = s.search;
    std::map<int, std::vector<std::pair<int, const TrialRecord*>>> ordered;
    for (const auto& r : records) {
        if (r.stage != s.name) continue;
        const auto a = r.labels.find("search"), q = r.labels.find("seq");
        if (a == r.labels.end() || q == r.labels.end()) continue;
        ordered[std::stoi(a->second)].emplace_back(std::stoi(q->second), &r);
    }
    std::vector<Trace> out;
    for (auto& [search, recs] : ordered) {
        std::sort(recs.begin(), recs.end());
        Trace t;
        t.search = search;
        for (const auto& [seq, r] : recs) {
            if (r->status == "infeasible") {
                ++t.infeasible;
                continue;
            }
            // stopped early (ASHA): counted as evaluated, never the search's choice
            if (r->status != "done" && r->status != "failed" && r->status != "stopped") continue;  // cut off
            Step st{r, {}, {}};
            if (r->status == "done") {
                st.observed = search::objective_losses(
                    x, search::objective_values(x, [&](const std::string& m) { return search_metric(*r, m); }));
                st.truth = search::objective_losses(
                    x, search::objective_values(x, [&](const std::string& m) { return true_metric(*r, m); }));
            }
            t.steps.push_back(std::move(st));
        }
        out.push_back(std::move(t));
    }
    return out;
}

namespace {

struct Ranked {
    const Step* step;
    int search, front;  // front: non-dominated rank within the ranking's pool (0 with one objective)
};

// Best first: the front, then the first objective, then the proposal order.
void sort_best_first(std::vector<Ranked>& pool) {
    std::vector<search::Losses> points;
    for (const auto& r : pool) points.push_back(r.step->observed);
    if (!points.empty() && points.front().size() > 1) {
        const std::vector<int> front = search::nondominated_ranks(points);
        for (std::size_t i = 0; i < pool.size(); ++i) pool[i].front = front[i];
    }
    std::stable_sort(pool.begin(), pool.end(), [](const Ranked& a, const Ranked& b) {
        if (a.front != b.front) return a.front < b.front;
        return a.step->observed[0] < b.step->observed[0];
    });
}

void take_top(std::vector<Ranked> pool, int top, std::vector<search::FoundNet>& out) {
    sort_best_first(pool);
    std::set<std::string> seen;  // configurations
    int rank = 0;
    for (const auto& r : pool) {
        if (rank == top) break;
        if (!seen.insert(search::config_id(r.step->record->settings)).second) continue;
        out.push_back({r.step->record->id, r.step->record->settings, r.search, ++rank});
    }
}

}  // namespace

std::vector<search::FoundNet> found_nets(const std::vector<TrialRecord>& records, const search::Stage& s,
                                         const search::RetrainFrom& which) {
    std::vector<search::FoundNet> out;
    const std::vector<Trace> traces = traces_of(records, s);
    std::vector<Ranked> pooled;
    for (const Trace& t : traces) {
        std::vector<Ranked> own;
        for (const Step& st : t.steps)
            if (!st.observed.empty() && std::all_of(st.observed.begin(), st.observed.end(), [](double v) { return std::isfinite(v); }))
                own.push_back({&st, t.search, 0});
        if (which.each_search)
            take_top(std::move(own), which.top, out);
        else
            pooled.insert(pooled.end(), own.begin(), own.end());
    }
    if (!which.each_search) take_top(std::move(pooled), which.top, out);
    return out;
}

}  // namespace deeper::runners
