#pragma once
// How a sweep shares the cores: K trials at once, T OpenMP threads each.
#include <cstdint>

namespace deeper::runners {

struct Packing {
    int jobs = 1;               // K
    int threads_per_trial = 1;  // T
};

// Small trials (under ~2 GMAC per training step: oneDNN's per-primitive barriers dominate a
// short step split over threads) run one per core side by side; big ones get every core.
// `jobs` and `threads_per_trial` (0 = choose) override, each capped at the cores.
Packing choose_packing(std::int64_t biggest_step_macs, int cores, int jobs, int threads_per_trial);

}  // namespace deeper::runners
