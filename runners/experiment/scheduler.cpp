#include "runners/experiment/scheduler.hpp"

#include <fmt/format.h>
#include <tbb/flow_graph.h>
#include <tbb/parallel_for_each.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <semaphore>

#include "nets/error.hpp"
#include "runners/cpu_budget.hpp"
#include "runners/experiment/journal.hpp"
#include "runners/experiment/rung_runner.hpp"
#include "runners/experiment/search_runner.hpp"
#include "runners/experiment/search_traces.hpp"
#include "runners/experiment/trial_run.hpp"
#include "runners/experiment/trial_values.hpp"
#include "runners/folder_lock.hpp"
#include "runners/status_line.hpp"
#include "search/expand.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;
using search::Trial;

std::vector<int> shard_split(const std::vector<std::string>& trial_ids, int shard_count) {
    std::vector<std::size_t> by_id(trial_ids.size());
    std::iota(by_id.begin(), by_id.end(), std::size_t(0));
    std::sort(by_id.begin(), by_id.end(), [&](std::size_t a, std::size_t b) { return trial_ids[a] < trial_ids[b]; });
    std::vector<int> shard(trial_ids.size());
    for (std::size_t rank = 0; rank < by_id.size(); ++rank)
        shard[by_id[rank]] = int(rank % std::size_t(std::max(1, shard_count)));
    return shard;
}

namespace {

// What the journal says so far, for the stages that pick their best from earlier ones and
// for skipping finished trials. Reread when a stage ends.
class JournalView {
public:
    explicit JournalView(std::string dir) : dir_(std::move(dir)), records_(read_journals(dir_)) {}
    void reload() {
        std::lock_guard l(m_);
        records_ = read_journals(dir_);
    }
    std::vector<TrialRecord> records() {
        std::lock_guard l(m_);
        return records_;
    }
    bool has(const std::string& id) {
        std::lock_guard l(m_);
        return std::any_of(records_.begin(), records_.end(), [&](const TrialRecord& r) { return r.id == id; });
    }
    bool done(const std::string& id) {
        std::lock_guard l(m_);
        for (const auto& r : records_)
            if (r.id == id) return r.status == "done";
        return false;
    }
    std::optional<search::BestTrial> best(const std::string& stage, const std::string& metric) {
        std::lock_guard l(m_);
        const TrialRecord* b = best_trial(records_, stage, metric);
        if (!b) return std::nullopt;
        return search::BestTrial{b->id, b->settings};
    }
    std::vector<search::FoundNet> found(const search::Stage& search_stage, const search::RetrainFrom& which) {
        std::lock_guard l(m_);
        return found_nets(records_, search_stage, which);
    }

private:
    std::string dir_;
    std::mutex m_;
    std::vector<TrialRecord> records_;
};

// The stages as a oneTBB flow graph: a stage starts when the stages it uses are done;
// independent ones run side by side.
void run_in_dependency_order(const search::Experiment& e, const std::function<void(const search::Stage&)>& run_stage) {
    tbb::flow::graph g;
    tbb::flow::broadcast_node<tbb::flow::continue_msg> start(g);
    std::map<std::string, std::unique_ptr<tbb::flow::continue_node<tbb::flow::continue_msg>>> nodes;
    for (const auto& s : e.stages) {
        auto node = std::make_unique<tbb::flow::continue_node<tbb::flow::continue_msg>>(
            g, [&, stage = &s](const tbb::flow::continue_msg&) { run_stage(*stage); });
        const auto deps = s.depends_on();
        if (deps.empty()) tbb::flow::make_edge(start, *node);
        for (const auto& d : deps) tbb::flow::make_edge(*nodes.at(d), *node);
        nodes[s.name] = std::move(node);
    }
    start.try_put(tbb::flow::continue_msg());
    g.wait_for_all();
}

// --force on an early-stopping or search stage run by several shards: each would wipe and
// re-read what the others write.
void refuse_sharded_force(const search::Experiment& e, const RunOptions& o) {
    for (const auto& s : e.stages) {
        const bool shared = s.early_stop || (s.kind == search::Stage::Kind::search && s.search.table.empty());
        if (shared && o.force && o.shard_count > 1 && (o.only_stage.empty() || o.only_stage == s.name))
            throw InputError(fmt::format("stage '{}': --force cannot re-run {} shard by shard; write to a fresh --out "
                                         "instead",
                                         s.name, s.early_stop ? "an early-stopping stage" : "a search"));
    }
}

std::string shard_name(const RunOptions& o) {
    return o.shard_count > 1 ? fmt::format("shard-{}-of-{}", o.shard_index, o.shard_count) : "local";
}

// What the trials of the named stage time before they train (its `measure`).
std::vector<std::string> stage_measure(const search::Experiment& e, const std::string& stage) {
    for (const auto& s : e.stages)
        if (s.name == stage) return s.measure;
    return {};
}

// One `deeper run` of one shard on one results folder: the stages in dependency order, K
// trainings at once across all of them (the arena's threads, the early-stopping stages' workers
// and the search stages' all train through train_job and wait for a slot there).
class ExperimentRun {
public:
    ExperimentRun(const search::Experiment& e, const ExperimentPlan& plan, const RunOptions& o, std::string out)
        : e_(e),
          o_(o),
          out_(std::move(out)),
          shard_(shard_name(o)),
          lock_((fs::path(out_) / "journal" / (shard_ + ".lock")).string(),
                fmt::format("results folder {} (shard '{}')", out_, shard_)),
          journal_(out_, shard_),
          view_(out_),
          earlier_{[this](const std::string& stage, const std::string& metric) { return view_.best(stage, metric); },
                   [this](const search::Stage& search_stage, const search::RetrainFrom& which) {
                       return view_.found(search_stage, which);
                   }},
          packing_(choose_packing(plan.biggest_step_macs, available_cores(), o.jobs, o.threads_per_trial)),
          slots_(packing_.jobs) {
        sum_.jobs = packing_.jobs;
        sum_.threads_per_trial = packing_.threads_per_trial;
    }

    RunSummary run() {
        SweepStatus status(live_, o_.progress);
        tbb::task_arena arena(packing_.jobs);
        arena.execute([&] { run_in_dependency_order(e_, [this](const search::Stage& s) { run_stage(s); }); });
        return sum_;
    }

private:
    bool stopping() const { return o_.stop && o_.stop->load(); }

    void run_stage(const search::Stage& s) {
        if (stopping()) return;
        if (!o_.only_stage.empty() && s.name != o_.only_stage) return;
        if (s.kind == search::Stage::Kind::search) run_search(s);
        else if (auto trials = expand_stage(s)) {
            if (s.early_stop) run_rungs(s, std::move(*trials));  // every shard works on the whole stage, job by job
            else run_shard_of(std::move(*trials));
        }
        view_.reload();  // later stages pick their best from what this one journaled
    }

    // The stage's trials with the journal's ids, or nullopt (journaled as skipped) when a stage
    // it draws from produced nothing.
    std::optional<std::vector<Trial>> expand_stage(const search::Stage& s) {
        std::vector<Trial> trials;
        try {
            trials = search::needs_results(s) ? search::expand(e_, s, &earlier_) : search::expand(e_, s);
        } catch (const RunError& ex) {
            journal_.append({{"event", "stage_skipped"}, {"stage", s.name}, {"error", ex.what()}});
            std::cerr << "deeper: " << ex.what() << '\n';
            count(&RunSummary::failed);
            return std::nullopt;
        }
        search::adopt_journal_ids(trials, [&](const std::string& id) { return view_.has(id); });
        return trials;
    }

    // A grid, random or list stage: this shard's trials that the journal does not show done
    // (failed ones are tried again), K at once.
    void run_shard_of(std::vector<Trial> trials) {
        std::vector<std::string> ids;
        for (const auto& t : trials) ids.push_back(t.id);
        const std::vector<int> shard_of = shard_split(ids, o_.shard_count);
        std::vector<Trial> todo;
        for (std::size_t i = 0; i < trials.size(); ++i) {
            if (shard_of[i] != o_.shard_index) continue;
            if (view_.done(trials[i].id) && !o_.force) {
                count(&RunSummary::skipped);
                continue;
            }
            if (o_.force) fs::remove_all(fs::path(out_) / "trials" / trials[i].id);
            todo.push_back(std::move(trials[i]));
        }
        add_to_total(int(todo.size()));
        tbb::parallel_for_each(todo.begin(), todo.end(), [this](const Trial& t) { run_one(t); });
    }

    void run_one(const Trial& t) {
        if (stopping()) return;
        const TrialOutcome outcome = train_job(t, 0).outcome;
        count(outcome == TrialOutcome::done     ? &RunSummary::done
              : outcome == TrialOutcome::failed ? &RunSummary::failed
                                                : &RunSummary::interrupted);
    }

    // A stage under early stopping: successive halving over its trials, shared with the other
    // shards through claims when there are several.
    void run_rungs(const search::Stage& s, std::vector<Trial> trials) {
        add_to_total(int(trials.size()));
        if (o_.force)
            for (const auto& t : trials) fs::remove_all(fs::path(out_) / "trials" / t.id);
        std::optional<RungClaims> claims;
        if (o_.shard_count > 1) claims.emplace(out_, s.name, shard_);
        RungStage rs{s,           std::move(trials), o_.force ? std::vector<TrialRecord>{} : view_.records(),
                     packing_.jobs, o_.stop,          journal_,
                     trainer(),   claims ? &*claims : nullptr, out_, {}};
        const RungSummary r = run_rung_stage(rs);
        add_to_summary({.done = r.done,
                        .failed = r.failed,
                        .skipped = r.skipped,
                        .interrupted = r.interrupted,
                        .stopped = r.stopped,
                        .spent_epochs = r.spent_epochs,
                        .full_epochs = r.full_epochs});
    }

    // A search stage: its proposals on the workers, or its table's answers, one search after
    // another. Several shards share a training search through the journals and claims; a
    // table's answers take no time, so shard 0 gives them alone.
    void run_search(const search::Stage& s) {
        const bool table = !s.search.table.empty();
        if (table && o_.shard_index != 0) {
            std::cerr << fmt::format("deeper: stage '{}' searches a table: shard 0 of {} runs it\n", s.name,
                                     o_.shard_count);
            return;
        }
        std::optional<RungClaims> claims;
        if (o_.shard_count > 1 && !table) claims.emplace(out_, s.name, shard_);
        if (!table) add_to_total(s.search.budget * s.search.repeats);  // a table's answers take no time
        if (o_.force)
            for (const auto& r : view_.records())
                if (r.stage == s.name) fs::remove_all(fs::path(out_) / "trials" / r.id);
        std::vector<TrialRecord> records = o_.force ? std::vector<TrialRecord>{} : view_.records();
        const SearchSummary r = run_search_stage({e_, s, std::move(records), journal_, packing_.jobs, o_.stop, trainer(),
                                                  packing_.threads_per_trial, claims ? &*claims : nullptr, out_});
        for (const auto& note : r.notes) std::cerr << "deeper: " << note << '\n';
        add_to_summary({.done = r.evaluated,
                        .failed = r.failed,
                        .skipped = r.replayed,
                        .interrupted = r.interrupted,
                        .stopped = r.stopped,
                        .infeasible = r.infeasible,
                        .spent_epochs = r.spent_epochs,
                        .full_epochs = r.full_epochs});
    }

    std::function<TrialEnd(const Trial&, int)> trainer() {
        return [this](const Trial& t, int pause_after_epochs) { return train_job(t, pause_after_epochs); };
    }

    // One job of a trial: to its end, or to a rung of early stopping (pause_after_epochs), in
    // one of the K slots.
    TrialEnd train_job(const Trial& t, int pause_after_epochs) {
        slots_.acquire();
        struct Release {
            std::counting_semaphore<>& s;
            ~Release() { s.release(); }
        } release{slots_};
        {
            std::lock_guard l(live_.m);
            live_.running[t.id] = Progress{};
        }
        TrialSetting setting{out_, packing_, o_.stop,
                             [this, id = t.id](const Progress& p) {
                                 std::lock_guard l(live_.m);
                                 live_.running[id] = p;
                             },
                             pause_after_epochs, stage_measure(e_, t.stage)};
        const TrialEnd end = run_trial(t, journal_, setting);
        std::lock_guard l(live_.m);
        live_.running.erase(t.id);
        live_.done += end.outcome == TrialOutcome::done;
        live_.failed += end.outcome == TrialOutcome::failed;
        return end;
    }

    void count(int RunSummary::*field) {
        std::lock_guard l(sum_m_);
        ++(sum_.*field);
    }

    // A stage's counts into the run's (its jobs and threads stay the run's).
    void add_to_summary(const RunSummary& d) {
        std::lock_guard l(sum_m_);
        sum_.done += d.done;
        sum_.failed += d.failed;
        sum_.skipped += d.skipped;
        sum_.interrupted += d.interrupted;
        sum_.stopped += d.stopped;
        sum_.infeasible += d.infeasible;
        sum_.spent_epochs += d.spent_epochs;
        sum_.full_epochs += d.full_epochs;
    }

    void add_to_total(int trials) {
        std::lock_guard l(live_.m);
        live_.total += trials;
    }

    const search::Experiment& e_;
    const RunOptions& o_;
    const std::string out_, shard_;
    const FolderLock lock_;
    Journal journal_;
    JournalView view_;
    const search::EarlierResults earlier_;
    const Packing packing_;
    std::counting_semaphore<> slots_;
    std::mutex sum_m_;
    RunSummary sum_;
    LiveTrials live_;
};

}  // namespace

RunSummary run_experiment(const search::Experiment& e, const ExperimentPlan& plan, const RunOptions& o) {
    std::string out = o.out.empty() ? (fs::path("results") / e.name).string() : o.out;
    refuse_sharded_force(e, o);
    fs::create_directories(fs::path(out) / "trials");
    fs::create_directories(fs::path(out) / "journal");
    return ExperimentRun(e, plan, o, std::move(out)).run();
}

}  // namespace deeper::runners
