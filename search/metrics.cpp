#include "search/metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "nets/error.hpp"

namespace deeper::search {

const std::vector<MetricInfo>& metric_registry() {
    using enum Direction;
    using enum Known;
    static const std::vector<MetricInfo> r = {
        {"val_top1", max, every_epoch, "top-1 accuracy on the held-out validation split"},
        {"val_top5", max, every_epoch, "top-5 accuracy on the validation split"},
        {"val_loss", min, every_epoch, "cross-entropy on the validation split"},
        {"train_loss", min, every_epoch, "running training loss of the epoch"},
        {"train_top1", max, every_epoch, "running training top-1 of the epoch"},
        {"train_eval_loss", min, every_epoch, "loss on a fixed training subset, eval mode"},
        {"train_eval_top1", max, every_epoch, "top-1 on a fixed training subset, eval mode"},
        {"train_eval_error", min, every_epoch, "1 - train_eval_top1 (the degradation plots)"},
        {"test_top1", max, at_end, "top-1 accuracy on the test set"},
        {"test_top5", max, at_end, "top-5 accuracy on the test set"},
        {"test_loss", min, at_end, "cross-entropy on the test set"},
        {"best_val_top1", max, at_end, "the best epoch's validation top-1"},
        {"wall_s", min, at_end, "wall time of the trial in seconds"},
        {"train_img_per_s", max, at_end, "training throughput, images per second"},
        {"params", min, before_training, "parameters (weights, biases, BN scale and shift)"},
        {"macs", min, before_training, "multiply-accumulates of one inference (conv and linear)"},
        {"latency_ms", min, before_training,
         "median milliseconds of one inference at batch 1 on a trial's threads and precision, measured"},
        {"throughput", max, before_training,
         "inference images per second at a trial's batch on its threads and precision, measured"},
    };
    return r;
}

bool timed_on_this_machine(std::string_view name) { return name == "latency_ms" || name == "throughput"; }

const MetricInfo* find_metric(std::string_view name) {
    const auto& r = metric_registry();
    const auto it = std::find_if(r.begin(), r.end(), [&](const MetricInfo& m) { return m.name == name; });
    return it == r.end() ? nullptr : &*it;
}

bool lower_is_better(std::string_view name) {
    const MetricInfo* m = find_metric(name);
    if (!m) throw InputError(fmt::format("unknown metric '{}'", name));
    return m->direction == Direction::min;
}

std::vector<std::string> metric_names(std::initializer_list<Known> known) {
    std::vector<std::string> out;
    for (const auto& m : metric_registry())
        if (known.size() == 0 || std::find(known.begin(), known.end(), m.known) != known.end()) out.emplace_back(m.name);
    return out;
}

}  // namespace deeper::search
