#pragma once
// Runs an experiment: a oneTBB flow graph of its stages (a stage starts when the stages it
// uses are done), K trials at once in one task arena, T OpenMP threads each; K is one pool for
// all stages (an early-stopping or search stage's workers wait for the same K slots). Finished trials
// (in the journal) are skipped and interrupted ones resume from their checkpoints; a trial that
// throws or diverges is journaled as failed and the others go on.
#include <atomic>
#include <string>
#include <vector>

#include "runners/experiment/plan.hpp"
#include "search/experiment.hpp"

namespace deeper::runners {

struct RunOptions {
    std::string out;             // results folder
    int jobs = 0;                // K trials at once (0: chosen from the cores and trial sizes)
    int threads_per_trial = 0;   // T (0: likewise)
    bool force = false;          // re-run finished trials
    int shard_index = 0, shard_count = 1;  // run only the trials of this shard
    std::string only_stage;      // run only this stage (the others' results come from the journal)
    const std::atomic<bool>* stop = nullptr;
    bool progress = true;
};

struct RunSummary {
    int done = 0, failed = 0, skipped = 0, interrupted = 0;
    int stopped = 0;                         // early stopping: trials not promoted
    int infeasible = 0;                      // search: proposals a constraint refused
    long spent_epochs = 0, full_epochs = 0;  // early stopping: trial-epochs trained, and without it
    int jobs = 0, threads_per_trial = 0;
};

// `plan` is validate_experiment's: run only what was checked.
RunSummary run_experiment(const search::Experiment& e, const ExperimentPlan& plan, const RunOptions& o);

// The shard of each of a stage's trials: round robin over the trials sorted by id. It depends
// only on the stage's set of trial ids (every array task and every requeue agrees), shards
// differ by at most one trial, and `--shards N` with N trials gives each task exactly one.
std::vector<int> shard_split(const std::vector<std::string>& trial_ids, int shard_count);

}  // namespace deeper::runners
