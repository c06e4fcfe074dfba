#pragma once
// A training run: data, engine, optimizer and schedule; evaluation every epoch (validation
// loss/top-1/top-5, and the training error measured in eval mode on a fixed training subset,
// which the ResNet degradation plots need); test at the end; atomic checkpoints every epoch and
// on a stop request; exact resume; transfer learning (--init, --freeze).
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nets/graph.hpp"
#include "runners/train/epoch_metrics.hpp"
#include "search/train_config.hpp"

namespace deeper::runners {

namespace data {
struct Dataset;
}

using search::TrainConfig;

struct TrainResult {
    std::vector<EpochMetrics> epochs;
    std::optional<double> test_loss, test_top1, test_top5;
    bool interrupted = false;
    bool paused = false;  // stopped at TrainHooks::pause_after_epochs (checkpointed, no test)
    std::int64_t params = 0, macs = 0;
    int threads = 0;
    std::string isa, net, precision;
    std::string conv_plan;  // conv_plan_hash of the forms the convs ran in
    double wall_s = 0;
};

struct Progress {
    int epoch = 0, epochs = 0;
    std::size_t batch = 0, batches = 0;
    double loss = 0, img_per_s = 0, eta_s = 0;
};

struct TrainHooks {
    std::function<void(const Progress&)> on_step;        // after each step
    std::function<void(const EpochMetrics&)> on_epoch;   // after each epoch's evaluation
    std::function<void(const std::string&)> on_note;     // one-off messages (init report, ...)
    std::function<void(const nets::Graph&)> on_graph;    // the net as built, before it compiles
    const std::atomic<bool>* stop = nullptr;             // set: checkpoint and return
    // > 0: return after this many epochs (checkpointed) without testing, a rung of early
    // stopping; the schedule stays the one for cfg.epochs, so continuing later (resume) is
    // the same run as one that never paused.
    int pause_after_epochs = 0;
};

// The net a config trains on data like `d`: the data's classes and input channels unless the
// config sets them, and a net file without a resolution at the data's own size.
nets::Graph build_graph(const TrainConfig& c, const data::Dataset& d);

// Runs (or resumes, when `resume` and the run folder holds a checkpoint) the training.
// Throws RunError for a diverging run ("diverged at epoch E step S"); what was measured
// before stays in the run folder.
TrainResult train(const TrainConfig& cfg, bool resume, const TrainHooks& hooks = {});

// The epochs a run folder's checkpoint has completed (0 when it has none): where it resumes.
int checkpoint_epoch(const std::string& run_dir);

}  // namespace deeper::runners
