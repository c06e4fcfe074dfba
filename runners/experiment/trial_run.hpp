#pragma once
// One trial of a sweep, start to end, told to the journal: "start" (with the epoch its
// checkpoint resumes from), one "epoch" per epoch, then "done", "failed" or "interrupted".
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "runners/experiment/journal.hpp"
#include "runners/experiment/packing.hpp"
#include "runners/train/trainer.hpp"
#include "search/expand.hpp"

namespace deeper::runners {

enum class TrialOutcome { done, failed, interrupted, paused };

struct TrialEnd {
    TrialOutcome outcome = TrialOutcome::failed;
    std::optional<EpochMetrics> last;  // the last epoch trained
    // done: the trial's final metrics by name (the last epoch's, best_val_top1, the done event's
    // numbers: test_top1, params, macs, ...)
    std::map<std::string, double> metrics;
};

struct TrialSetting {
    std::string results_dir;  // the trial trains in results_dir/trials/<id>
    Packing packing;          // recorded with each trial; its threads are the trial's
    const std::atomic<bool>* stop = nullptr;
    std::function<void(const Progress&)> on_progress;
    int pause_after_epochs = 0;  // > 0: a rung of early stopping (TrainHooks)
    std::vector<std::string> measure;  // the stage's `measure`: timed before training, in the result
};

// Never throws for what the trial does (a bad setting, divergence, a full disk): it is
// journaled as failed and the sweep goes on.
TrialEnd run_trial(const search::Trial& t, Journal& journal, const TrialSetting& s);

}  // namespace deeper::runners
