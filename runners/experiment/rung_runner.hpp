#pragma once
// A stage under early stopping: `workers` threads take jobs from a SuccessiveHalving (start a
// trial, or continue a promoted one to its next rung) until none is left, journaling every
// rung reached, every promotion and, at the end, every trial stopped. On a rerun the journal
// is replayed first: decisions already taken stand, and the jobs a kill interrupted run again
// from their checkpoints. With `claims` (several shards on one stage) every decision is taken
// afresh from all shards' journals and claims, under their lock (rung_claims.hpp).
#include <atomic>
#include <functional>
#include <vector>

#include "runners/experiment/journal.hpp"
#include "runners/experiment/rung_claims.hpp"
#include "runners/experiment/trial_run.hpp"
#include "search/expand.hpp"

namespace deeper::runners {

struct RungStage {
    const search::Stage& stage;
    std::vector<search::Trial> trials;         // the stage's trials, in its order
    std::vector<TrialRecord> records;          // what the journal says so far
    int workers = 1;
    const std::atomic<bool>* stop = nullptr;
    Journal& journal;
    // Trains a trial until `pause_after_epochs` (0: to its end), journaling as run_trial does.
    std::function<TrialEnd(const search::Trial&, int pause_after_epochs)> run;
    // Shared with other shards: the claims, and the results folder whose journals to re-read.
    const RungClaims* claims = nullptr;
    std::string results_dir;
    // Called at each step of a shared decision ("locked", "read", "claimed", "reporting"): a
    // stress test delays shards there to force the interleavings a real cluster meets by chance.
    std::function<void(const char* point)> at_point;
};

struct RungSummary {
    int done = 0, failed = 0, stopped = 0, interrupted = 0;
    int skipped = 0;  // finished before this run (the journal says done)
    long spent_epochs = 0, full_epochs = 0;  // trial-epochs trained, and without early stopping
};

RungSummary run_rung_stage(const RungStage& s);

}  // namespace deeper::runners
