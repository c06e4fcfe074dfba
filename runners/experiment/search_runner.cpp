#include "runners/experiment/search_runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "nets/error.hpp"
#include "runners/experiment/trial_values.hpp"
#include "runners/train/trainer.hpp"
#include "search/fnv_hash.hpp"
#include "search/objectives.hpp"
#include "search/result_table.hpp"
#include "search/strategy.hpp"

namespace deeper::runners {

using json = nlohmann::ordered_json;
using search::Observation;
using search::Point;
using search::Rng;

double search_metric(const TrialRecord& r, const std::string& metric) {
    if (const auto it = r.result.find(metric); it != r.result.end()) return it->second;
    return final_metric(r, metric);
}

namespace {

// Each proposal's and each table answer's random numbers: a function of where it is in the
// search, never of what ran before it in this process.
Rng rng_for(const search::Experiment& e, const search::SearchSpec& x, int search, int seq, const char* stream) {
    return Rng(search::fnv1a(fmt::format("{}|{}|{}|{}|{}", e.seed, x.seed, search, seq, stream)));
}

// A sequence of proposals after this many refusals in a row gives up: the constraints leave
// (almost) nothing of the space.
constexpr int kMaxRefusalsInARow = 10'000;

class OneSearch {
public:
    OneSearch(const SearchStageRun& run, const search::SearchSpace& space, const search::Strategy& strategy,
              const search::ResultTable* table, DataCache& data, int index, SearchSummary& sum)
        : run_(run), x_(run.stage.search), space_(space), strategy_(strategy), table_(table), data_(data),
          index_(index), sum_(sum) {}

    // The journal's proposals of this search, in the order they finished.
    void replay(const std::vector<TrialRecord>& records) {
        std::vector<const TrialRecord*> mine;
        for (const auto& r : records) {
            if (r.stage != run_.stage.name) continue;
            const auto s = r.labels.find("search"), q = r.labels.find("seq");
            if (s == r.labels.end() || q == r.labels.end() || s->second != std::to_string(index_)) continue;
            mine.push_back(&r);
        }
        std::stable_sort(mine.begin(), mine.end(),
                         [](const TrialRecord* a, const TrialRecord* b) { return a->last_time < b->last_time; });
        for (const TrialRecord* r : mine) {
            const int seq = std::stoi(r->labels.at("seq"));
            next_seq_ = std::max(next_seq_, seq + 1);
            const auto point = space_.point_of(r->settings);
            if (!point)
                throw InputError(fmt::format("stage '{}': the journal's proposal {} of search {} ({}) is not in the space; "
                                             "the space was edited: write to a fresh --out",
                                             run_.stage.name, seq, index_, r->id));
            seen_.insert(space_.key(*point));
            if (r->status == "infeasible") {
                history_.push_back({*point, {}, false});
                continue;
            }
            ++committed_;
            if (r->status == "done") {
                history_.push_back({*point, losses(*r), true});
                ++sum_.replayed;
            } else if (r->status == "failed") {
                history_.push_back({*point, {}, true});
                ++sum_.replayed;
            } else {  // proposed, running or interrupted: a kill cut it off
                pending_.push_back(search::search_trial(run_.experiment, run_.stage, index_, seq, space_.settings(*point)));
            }
        }
    }

    void run() {
        const int workers = table_ ? 1 : std::max(1, run_.workers);
        std::vector<std::thread> threads;
        for (int w = 1; w < workers; ++w) threads.emplace_back([this] { work(); });
        work();
        for (auto& t : threads) t.join();
        if (exhausted_)
            sum_.notes.push_back(fmt::format("stage '{}', search {}: {} after {} of the budget's {} points", run_.stage.name,
                                             index_, exhausted_reason_, committed_, x_.budget));
    }

private:
    struct Job {
        search::Trial trial;
        Point point;
    };

    void work() {
        while (auto job = next_job()) evaluate(*job);
    }

    std::optional<Job> next_job() {
        std::lock_guard l(m_);
        if (run_.stop && run_.stop->load()) return std::nullopt;
        if (!pending_.empty()) {
            search::Trial t = std::move(pending_.front());
            pending_.erase(pending_.begin());
            return Job{t, *space_.point_of(t.settings)};
        }
        int refusals = 0;
        while (committed_ < x_.budget && !exhausted_) {
            const int seq = next_seq_++;
            Rng rng = rng_for(run_.experiment, x_, index_, seq, "propose");
            const auto p = search::propose_unseen(strategy_, space_, history_, seen_, rng);
            if (!p) {
                exhausted_ = true;
                exhausted_reason_ = "the space has no configuration left to propose";
                break;
            }
            seen_.insert(space_.key(*p));
            search::Trial t = search::search_trial(run_.experiment, run_.stage, index_, seq, space_.settings(*p));
            const search::Metrics costs = cost_of(t, *p);
            const auto broken = search::broken_constraint(x_, [&](const std::string& m) {
                const auto it = costs.find(m);
                return it == costs.end() ? NAN : it->second;
            });
            if (broken) {
                json refused = event("infeasible", t, json(costs));
                refused["reason"] = *broken;
                run_.journal.append(std::move(refused), !table_);
                history_.push_back({*p, {}, false});
                ++sum_.infeasible;
                if (++refusals >= kMaxRefusalsInARow) {
                    exhausted_ = true;
                    exhausted_reason_ = fmt::format("{} proposals in a row broke a constraint", refusals);
                }
                continue;
            }
            ++committed_;
            if (!table_) run_.journal.append(event("propose", t, json::object()));
            return Job{t, *p};
        }
        return std::nullopt;
    }

    void evaluate(const Job& job) {
        if (table_) {
            const std::string key = space_.key(job.point);
            Rng rng = rng_for(run_.experiment, x_, index_, job.trial.index, "query");
            const search::Metrics& answer = table_->query(key, rng);
            json result = json(answer);
            for (const auto& o : x_.objectives)  // the configuration's true value, which scores a search
                if (table_->has_metric(o.metric)) result["table_mean_" + o.metric] = table_->mean(key).at(o.metric);
            run_.journal.append(event("query", job.trial, result), false);
            record(job.point, losses_of([&](const std::string& m) {
                       const auto it = answer.find(m);
                       return it == answer.end() ? NAN : it->second;
                   }));
            return;
        }
        const TrialEnd end = run_.run(job.trial, 0);
        if (end.outcome == TrialOutcome::interrupted) {
            std::lock_guard l(m_);
            ++sum_.interrupted;
            return;
        }
        if (end.outcome != TrialOutcome::done) {
            record(job.point, {}, true);
            return;
        }
        record(job.point, losses_of([&](const std::string& m) {
            const auto it = end.metrics.find(m);
            return it == end.metrics.end() ? NAN : it->second;
        }));
    }

    void record(const Point& p, search::Losses l, bool failed = false) {
        std::lock_guard l2(m_);
        history_.push_back({p, std::move(l), true});
        ++(failed ? sum_.failed : sum_.evaluated);
    }

    search::Losses losses_of(const search::MetricLookup& metric) const {
        return search::objective_losses(x_, search::objective_values(x_, metric));
    }
    search::Losses losses(const TrialRecord& r) const {
        return losses_of([&](const std::string& m) { return search_metric(r, m); });
    }

    // What the constraints and a reward's cost need, before evaluation: the table's columns
    // where it has them, else the net counted at the data's size.
    search::Metrics cost_of(const search::Trial& t, const Point& p) {
        search::Metrics costs;
        const std::vector<std::string> needed = search::cost_metrics(x_);
        if (needed.empty()) return costs;
        bool counted = false;
        for (const auto& m : needed) {
            if (table_ && table_->has_metric(m)) {
                costs[m] = table_->mean(space_.key(p)).at(m);
                continue;
            }
            if (counted) continue;
            const search::TrainConfig c = t.config();
            const nets::Graph g = build_graph(c, data_.get(c.data).train);
            costs["params"] = double(g.total_params());
            costs["macs"] = double(g.total_macs());
            counted = true;
        }
        return costs;
    }

    json event(const char* name, const search::Trial& t, json result) const {
        json e = {{"event", name}, {"trial", t.id}, {"stage", t.stage}};
        search::Settings shown = table_ ? space_.settings(*space_.point_of(t.settings)) : t.settings;
        e["settings"] = shown;
        e["labels"] = t.labels;
        if (!table_) e["swept"] = t.swept;  // a table's answers: the settings are the choices
        if (!result.empty()) e["result"] = std::move(result);
        return e;
    }

    const SearchStageRun& run_;
    const search::SearchSpec& x_;
    const search::SearchSpace& space_;
    const search::Strategy& strategy_;
    const search::ResultTable* table_;
    DataCache& data_;
    const int index_;
    SearchSummary& sum_;

    std::mutex m_;
    std::vector<Observation> history_;  // in the order the points finished
    std::set<std::string> seen_;
    std::vector<search::Trial> pending_;
    int next_seq_ = 0;
    int committed_ = 0;  // feasible proposals: evaluated, failed or running
    bool exhausted_ = false;
    std::string exhausted_reason_;
};

}  // namespace

SearchSummary run_search_stage(const SearchStageRun& s) {
    const search::SearchSpec& x = s.stage.search;
    const search::SearchSpace space(x.space);
    search::StrategyOptions o;
    o.name = x.strategy.name;
    o.population = x.strategy.population;
    o.tournament = x.strategy.tournament;
    o.startup = x.strategy.startup;
    o.candidates = x.strategy.candidates;
    o.prior_weight = x.strategy.prior_weight;
    const auto strategy = search::make_strategy(o, space);
    std::optional<search::ResultTable> table;
    if (!x.table.empty()) table = search::load_stage_table(s.experiment, s.stage);
    DataCache data;
    SearchSummary sum;
    for (int r = 0; r < x.repeats; ++r) {
        if (s.stop && s.stop->load()) break;
        OneSearch one(s, space, *strategy, table ? &*table : nullptr, data, r, sum);
        one.replay(s.records);
        one.run();
    }
    if (table) s.journal.sync();
    return sum;
}

}  // namespace deeper::runners
