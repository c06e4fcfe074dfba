#pragma once
// A search stage: `repeats` independent searches, each proposing points of its space with its
// strategy until `budget` of them are evaluated. A point a constraint refuses is journaled as
// infeasible and never evaluated (nor counted in the budget); the others are trained as trials
// (K workers, each proposing as soon as it is free, from what has finished) or looked up in a
// table (one at a time: a table answers at once). Every proposal, refusal and answer is a
// journal event with the search's number and the proposal's sequence number; a proposal's
// random numbers derive from (seed, search, sequence number), so a search is a function of the
// journal: a rerun after a kill replays it, trains again what was cut off, and goes on with the
// proposals an uninterrupted run would have made.
//
// Several shards (SLURM array tasks) can be the workers of one search: then every decision (a
// proposal, a promotion, the adoption of a job a dead shard left) is taken under the stage's
// claims lock from everyone's journals and claims re-read, and claimed before it trains, as
// the cross-shard early stopping does (rung_claims.hpp): no proposal is made twice and no job
// trains twice; a requeued task resumes its own claims, and a live shard adopts a dead one's.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "runners/experiment/journal.hpp"
#include "runners/experiment/plan.hpp"
#include "runners/experiment/rung_claims.hpp"
#include "runners/experiment/trial_run.hpp"
#include "search/expand.hpp"

namespace deeper::runners {

struct SearchStageRun {
    const search::Experiment& experiment;
    const search::Stage& stage;
    std::vector<TrialRecord> records;  // what the journal says so far
    Journal& journal;
    int workers = 1;
    const std::atomic<bool>* stop = nullptr;
    // Trains a proposal to its end, journaling as run_trial does (the training evaluator).
    std::function<TrialEnd(const search::Trial&, int pause_after_epochs)> run;
    int trial_threads = 1;  // each training's threads: a measured latency runs on as many
    const RungClaims* claims = nullptr;  // set: one search shared with other shards
    std::string results_dir;             // with claims: where every shard's journal is
};

struct SearchSummary {
    int evaluated = 0;   // this run
    int replayed = 0;    // evaluated before this run (the journal says so)
    int infeasible = 0, failed = 0, interrupted = 0;
    int stopped = 0;          // early stopping: proposals not promoted to the last rung
    long spent_epochs = 0;    // early stopping: trial-epochs trained
    long full_epochs = 0;     // and what training every proposal fully would have
    int timings_measured = 0, timings_cached = 0;  // latency_ms, throughput: timed here, or read back
    double timing_seconds = 0;                     // what timing them took
    std::vector<std::string> notes;  // a space exhausted before the budget, ...
};

SearchSummary run_search_stage(const SearchStageRun& s);

// A trial's metric for the objectives and constraints: a result, best_val_top1 or the last
// epoch's (final_metric).
double search_metric(const TrialRecord& r, const std::string& metric);

}  // namespace deeper::runners
