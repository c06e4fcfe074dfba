#include "runners/experiment/search_runner.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "nets/error.hpp"
#include "runners/experiment/journal.hpp"
#include "runners/experiment/rungs.hpp"
#include "runners/experiment/search_rungs.hpp"
#include "runners/experiment/timed_metrics.hpp"
#include "runners/experiment/trial_values.hpp"
#include "runners/train/epoch_metrics.hpp"
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

// Shared across shards: how often a worker with nothing to do looks again at what the others did.
constexpr std::chrono::seconds kSharedPoll{2};

class OneSearch {
public:
    OneSearch(const SearchStageRun& run, const search::SearchSpace& space, const search::Strategy& strategy,
              const search::ResultTable* table, DataCache& data, int index, SearchSummary& sum)
        : run_(run), x_(run.stage.search), space_(space), strategy_(strategy), table_(table), data_(data),
          index_(index), sum_(sum) {
        if (const auto& es = run.stage.early_stop) {
            Rng rng(0);  // any point: every trial of the stage trains the same epochs (checked before the run)
            const int last = es->max_epochs > 0 ? es->max_epochs
                                                : search::search_trial(run.experiment, run.stage, 0, 0,
                                                                       space.settings(space.sample(rng)))
                                                      .config()
                                                      .epochs;
            rungs_.emplace(rung_epochs(es->min_epochs, es->reduction, last), es->reduction);
            fresh_rungs_ = rungs_;
        }
    }

    // The journal's proposals of this search, in the order they finished (first reported).
    void replay(const std::vector<TrialRecord>& records) {
        std::vector<const TrialRecord*> mine;
        for (const auto& r : records) {
            if (r.stage != run_.stage.name) continue;
            const auto s = r.labels.find("search"), q = r.labels.find("seq");
            if (s == r.labels.end() || q == r.labels.end() || s->second != std::to_string(index_)) continue;
            mine.push_back(&r);
        }
        std::stable_sort(mine.begin(), mine.end(),
                         [](const TrialRecord* a, const TrialRecord* b) { return a->first_report < b->first_report; });
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
            const search::Trial t = search::search_trial(run_.experiment, run_.stage, index_, seq, space_.settings(*point));
            if (rungs_) {
                replay_rungs(*r, t, *point);
                continue;
            }
            if (r->status == "done") {
                observe(t.id, *point, losses(*r));
                ++sum_.replayed;
            } else if (r->status == "failed") {
                observe(t.id, *point, {});
                ++sum_.replayed;
            } else {  // proposed, running or interrupted: a kill cut it off, or it runs now
                if (!costs_.count(t.id)) costs_.emplace(t.id, cost_of(t, *point, &r->result));  // as timed where proposed
                cut_off({t, *point, 0});
            }
        }
    }

    void run() {
        const int workers = table_ ? 1 : std::max(1, run_.workers);
        std::vector<std::thread> threads;
        for (int w = 1; w < workers; ++w) threads.emplace_back([this] { work(); });
        work();
        for (auto& t : threads) t.join();
        if (error_) std::rethrow_exception(error_);
        if (exhausted_)
            sum_.notes.push_back(fmt::format("stage '{}', search {}: {} after {} of the budget's {} points", run_.stage.name,
                                             index_, exhausted_reason_, committed_, x_.budget));
        if (rungs_ && !shared() && !(run_.stop && run_.stop->load())) journal_stopped();
        if (rungs_) {
            sum_.spent_epochs += rungs_->spent_epochs();
            sum_.full_epochs += long(committed_) * rungs_->epochs(rungs_->rungs() - 1);
        }
    }

private:
    struct Job {
        search::Trial trial;
        Point point;
        int rung = 0;  // early stopping: train to this rung
    };

    bool shared() const { return run_.claims != nullptr; }

    // The search is over: who did not go on, stopped. Shared, decided in next_job under the
    // claims lock, from the state it refreshed: by the first shard to find nothing left to run
    // anywhere (a rung journaled later could otherwise promote a trial marked stopped).
    void journal_stopped() {
        if (stopped_journaled_) return;
        stopped_journaled_ = true;
        for (const auto& [trial, rung] : rungs_->stopped()) {
            ++sum_.stopped;
            if (!already_stopped_.count(trial))
                run_.journal.append({{"event", "stopped"}, {"trial", trial}, {"rung", rung}, {"epochs", rungs_->epochs(rung)}});
        }
    }

    // Shared: the search's state rebuilt from every shard's journal and the claims (under the
    // claims lock). What this run counted stays as it was: a refresh is not a replay.
    void refresh() {
        const SearchSummary counted = sum_;
        history_.clear();
        observed_.clear();
        seen_.clear();
        pending_.clear();
        jobs_.clear();
        already_stopped_.clear();
        rungs_ = fresh_rungs_;
        next_seq_ = committed_ = 0;
        running_elsewhere_ = 0;  // exhausted_ stays: what this run found of the space still holds
        claims_ = run_.claims->read();
        replay(read_journals(run_.results_dir));
        sum_ = counted;
    }

    // A job the journal shows begun and not ended: cut off by a kill (trained again), unless it
    // runs now, in this process or in another live shard that claimed it.
    void cut_off(Job j) {
        if (runs_now(j)) {
            if (rungs_) rungs_->begin(j.trial.id, j.rung);
            if (!in_flight_.count(j.trial.id)) ++running_elsewhere_;
            return;
        }
        pending_.push_back(std::move(j));
    }
    bool runs_now(const Job& j) const {
        if (in_flight_.count(j.trial.id)) return true;
        if (!shared()) return false;
        const auto it = claims_.find({j.trial.id, j.rung});
        return it != claims_.end() && it->second != run_.claims->shard() && run_.claims->alive(it->second);
    }

    // A worker. What throws (the journal cannot be written, a net that does not build) ends the
    // search on every worker and is rethrown once they are done.
    void work() {
        try {
            while (auto job = next_job()) evaluate(*job);
        } catch (...) {
            std::lock_guard l(m_);
            if (!error_) error_ = std::current_exception();
            reported_.notify_all();
        }
    }

    // The next job: a cut-off one, a promotion, a new proposal, or a wait for a running job
    // (early stopping: its result may promote another; shared: its shard may die, and its job
    // is then adopted here). Shared, decided from everyone's journals under the claims lock and
    // claimed before it is handed out; the wait polls, since the job that ends it may run in
    // another process. The lock order is always m_, then the claims lock.
    std::optional<Job> next_job() {
        std::unique_lock l(m_);
        while (true) {
            if ((run_.stop && run_.stop->load()) || error_) return std::nullopt;
            {
                std::optional<RungClaims::Guard> guard;
                if (shared()) {
                    guard.emplace(run_.claims->lock_path());
                    refresh();
                }
                if (auto j = pick()) {
                    if (shared()) run_.claims->claim(j->trial.id, j->rung);
                    in_flight_.insert(j->trial.id);
                    return j;
                }
                // (shared: a shard waits for the others' last jobs before its next search or
                // stage, so that it can adopt one whose shard dies)
                const bool waiting = (rungs_ && rungs_->running()) || running_elsewhere_ > 0;
                if (!waiting) {
                    if (rungs_ && shared()) journal_stopped();
                    return std::nullopt;
                }
            }
            if (shared())
                reported_.wait_for(l, kSharedPoll);
            else
                reported_.wait(l);
        }
    }

    std::optional<Job> pick() {
        if (!pending_.empty()) {
            Job j = std::move(pending_.front());
            pending_.erase(pending_.begin());
            if (rungs_) rungs_->begin(j.trial.id, j.rung);
            return j;
        }
        if (rungs_)
            if (const auto p = rungs_->promotion(false)) return promote(*p);
        if (auto j = propose()) return j;
        if (rungs_ && !rungs_->running())
            if (const auto p = rungs_->promotion(true)) return promote(*p);
        return std::nullopt;
    }

    Job promote(const std::pair<std::string, int>& p) {
        rungs_->begin(p.first, p.second);
        run_.journal.append({{"event", "promote"}, {"trial", p.first}, {"stage", run_.stage.name}, {"rung", p.second}});
        const Job& known = jobs_.at(p.first);
        return {known.trial, known.point, p.second};
    }

    // A new proposal within the budget (points a constraint refuses are journaled and skipped).
    std::optional<Job> propose() {
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
            if (!table_) run_.journal.append(event("propose", t, json(costs)));
            Job j{t, *p, 0};
            jobs_[t.id] = j;
            costs_[t.id] = costs;
            if (rungs_) rungs_->begin(t.id, 0);
            return j;
        }
        return std::nullopt;
    }

    void evaluate(const Job& job) {
        if (table_) {
            const std::string key = space_.key(job.point);
            Rng rng = rng_for(run_.experiment, x_, index_, job.trial.index, "query");
            search::Metrics answer = table_->query(key, rng);
            {  // what the table lacks and was counted or timed at the proposal (a latency)
                std::lock_guard l(m_);
                for (const auto& [m, v] : costs_.at(job.trial.id)) answer.emplace(m, v);
            }
            json result = json(answer);
            for (const auto& o : x_.objectives)  // the configuration's true value, which scores a search
                if (table_->has_metric(o.metric)) result["table_mean_" + o.metric] = table_->mean(key).at(o.metric);
            run_.journal.append(event("query", job.trial, result), false);
            std::lock_guard l(m_);
            in_flight_.erase(job.trial.id);
            observe(job.trial.id, job.point, losses_of([&](const std::string& m) {
                        const auto it = answer.find(m);
                        return it == answer.end() ? NAN : it->second;
                    }));
            ++sum_.evaluated;
            return;
        }
        const bool last_rung = !rungs_ || job.rung == rungs_->rungs() - 1;
        const TrialEnd end = run_.run(job.trial, last_rung ? 0 : rungs_->epochs(job.rung));
        std::lock_guard l(m_);
        in_flight_.erase(job.trial.id);
        if (end.outcome == TrialOutcome::interrupted) {
            ++sum_.interrupted;
            if (rungs_) rungs_->halted(job.trial.id);
        } else if (end.outcome == TrialOutcome::failed) {
            if (rungs_) rungs_->failed(job.trial.id);
            observe(job.trial.id, job.point, {});
            ++sum_.failed;
        } else {
            const search::Metrics& costs = costs_of(job);
            const search::Losses l2 = losses_of([&](const std::string& m) {
                if (const auto it = end.metrics.find(m); it != end.metrics.end()) return it->second;
                if (const auto it = costs.find(m); it != costs.end()) return it->second;
                return end.last ? epoch_metric_of(*end.last, m) : NAN;
            });
            if (rungs_) {
                if (end.outcome == TrialOutcome::paused)
                    run_.journal.append({{"event", "rung"}, {"trial", job.trial.id}, {"rung", job.rung},
                                         {"epochs", rungs_->epochs(job.rung)},
                                         {"metric", l2.empty() ? NAN : x_.objectives[0].minimize ? l2[0] : -l2[0]},
                                         {"losses", l2}});
                rungs_->reached(job.trial.id, job.rung, l2);
            }
            observe(job.trial.id, job.point, l2);  // a trial promoted further updates its fitness
            if (end.outcome == TrialOutcome::done) ++sum_.evaluated;
        }
        reported_.notify_all();
    }

    // Early stopping: what the journal says of a trial's rungs, into the decisions.
    void replay_rungs(const TrialRecord& r, const search::Trial& t, const Point& p) {
        jobs_[t.id] = {t, p, 0};
        auto known = costs_.find(t.id);  // counted once, though a shared search replays often; timed
        if (known == costs_.end()) known = costs_.emplace(t.id, cost_of(t, p, &r.result)).first;  // where proposed
        const search::Metrics& costs = known->second;
        auto at_rung = [&](int k) {
            const std::size_t e = std::size_t(rungs_->epochs(k));
            return losses_of([&](const std::string& m) {
                if (const auto it = costs.find(m); it != costs.end()) return it->second;
                if (k == rungs_->rungs() - 1) return search_metric(r, m);
                return e <= r.epochs.size() ? epoch_metric(r.epochs[e - 1], m) : NAN;
            });
        };
        int reached = r.status == "done" ? rungs_->rungs() : 0;
        if (r.status != "done")
            for (const auto& [rung, metric] : r.rungs) reached = std::max(reached, rung + 1);
        for (int k = 0; k < reached; ++k) {
            rungs_->begin(t.id, k);
            rungs_->reached(t.id, k, at_rung(k));
        }
        if (reached > 0) observe(t.id, p, rungs_->latest(t.id));
        if (r.status == "done") {
            ++sum_.replayed;
            return;
        }
        if (r.status == "stopped" && r.promoted_to < reached) {  // (a promotion after it: not stopped)
            already_stopped_.insert(t.id);
            return;
        }
        const int heading = std::max(r.promoted_to, reached > 0 ? reached - 1 : 0);
        if (r.status == "failed") {
            rungs_->begin(t.id, heading);
            rungs_->failed(t.id);
            observe(t.id, p, {});
            ++sum_.replayed;
            return;
        }
        if (heading >= reached) {  // promoted (or proposed) and cut off before the rung: train on
            rungs_->begin(t.id, heading);
            rungs_->halted(t.id);
            cut_off({t, p, heading});
        }
    }

    // The trial's observation, added when it first reports and updated when it reports again.
    void observe(const std::string& trial, const Point& p, search::Losses l) {
        if (const auto it = observed_.find(trial); it != observed_.end()) {
            history_[it->second].losses = std::move(l);
            return;
        }
        observed_[trial] = history_.size();
        history_.push_back({p, std::move(l), true});
    }

    const search::Metrics& costs_of(const Job& job) {
        auto it = costs_.find(job.trial.id);
        if (it == costs_.end()) it = costs_.emplace(job.trial.id, cost_of(job.trial, job.point)).first;
        return it->second;
    }

    search::Losses losses_of(const search::MetricLookup& metric) const {
        return search::objective_losses(x_, search::objective_values(x_, metric));
    }
    search::Losses losses(const TrialRecord& r) const {
        return losses_of([&](const std::string& m) { return search_metric(r, m); });
    }

    // What the constraints, a reward's cost and objectives known before training need: the
    // table's columns where it has them, else the net counted at the data's size. A timing the
    // journal holds (`timed`: the proposal's, by whichever shard made it) is kept, not retaken.
    search::Metrics cost_of(const search::Trial& t, const Point& p,
                            const std::map<std::string, double>* timed = nullptr) {
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
            auto wanted = [&](const char* m) { return std::find(needed.begin(), needed.end(), m) != needed.end(); };
            for (const char* m : {"latency_ms", "throughput"})
                if (wanted(m) && !copy_timing(timed, m, costs)) add_timed(g, c, m, costs);
            counted = true;
        }
        return costs;
    }

    // The journal's columns of a timing (latency_ms, latency_p25_ms, ...; throughput, ...), if
    // it has the metric itself.
    static bool copy_timing(const std::map<std::string, double>* timed, const std::string& metric,
                            search::Metrics& costs) {
        if (!timed || !timed->count(metric)) return false;
        const std::string group = metric == "latency_ms" ? "latency_" : metric;
        for (const auto& [m, v] : *timed)
            if (m.starts_with(group)) costs[m] = v;
        return true;
    }

    // Timed (or read back from the machine's cache) on a training's threads and precision:
    // what a latency constraint or objective, or a throughput one, needs, before training.
    void add_timed(const nets::Graph& g, const search::TrainConfig& c, const char* metric, search::Metrics& costs) {
        const TimedMetrics t = time_metrics(g, {metric}, run_.trial_threads, parse_precision(c.precision), c.batch);
        for (const auto& [m, v] : t.values) costs[m] = v;
        sum_.timings_measured += t.measured;
        sum_.timings_cached += t.cached;
        sum_.timing_seconds += t.seconds;
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
    std::condition_variable reported_;
    std::vector<Observation> history_;  // in the order the points first reported
    std::map<std::string, std::size_t> observed_;  // trial -> its place in history_
    std::set<std::string> seen_;
    std::vector<Job> pending_;
    std::map<std::string, Job> jobs_;               // every proposal of this run, by trial
    std::map<std::string, search::Metrics> costs_;  // their counted params and MACs
    std::optional<SearchRungs> rungs_, fresh_rungs_;  // fresh: before any replay (a refresh starts there)
    std::set<std::string> already_stopped_;
    std::set<std::string> in_flight_;                   // trials this process trains now
    std::map<std::pair<std::string, int>, std::string> claims_;  // shared: (trial, rung) -> shard
    std::exception_ptr error_;
    int next_seq_ = 0;
    int committed_ = 0;  // feasible proposals: evaluated, failed or running
    int running_elsewhere_ = 0;  // shared: jobs another live shard has claimed and not ended
    bool exhausted_ = false;
    std::string exhausted_reason_;
    bool stopped_journaled_ = false;
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
