#pragma once
// Every metric deeper reports, with its direction and when it is known: the one list that
// experiment files, early stopping, best-of-stage choices, reports and search objectives read.
// Nothing guesses a direction from a name.
#include <string>
#include <string_view>
#include <vector>

namespace deeper::search {

enum class Direction { max, min };

enum class Known {
    before_training,  // counted from the net (params, macs)
    every_epoch,      // measured at each epoch's end: what rungs and curves can follow
    at_end,           // once the trial has finished (the test set, the wall time)
};

struct MetricInfo {
    std::string_view name;
    Direction direction;
    Known known;
    std::string_view what;
};

const std::vector<MetricInfo>& metric_registry();
// nullptr for a name deeper does not know.
const MetricInfo* find_metric(std::string_view name);
// The registry's direction; throws InputError for a name it does not know.
bool lower_is_better(std::string_view name);

// Known before training, but measured on this machine's engine when a search proposes a
// configuration, not counted from the net: latency_ms and throughput.
bool timed_on_this_machine(std::string_view name);

// The registry's names, those known when `known` says (all when empty).
std::vector<std::string> metric_names(std::initializer_list<Known> known = {});

}  // namespace deeper::search
