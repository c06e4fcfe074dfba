#include "runners/experiment/packing.hpp"

#include <algorithm>

#include "runners/cpu_budget.hpp"

namespace deeper::runners {

Packing choose_packing(std::int64_t biggest_step_macs, int cores, int jobs, int threads_per_trial) {
    Packing p = biggest_step_macs < 2'000'000'000LL ? Packing{cores, 1} : Packing{1, cores};
    if (jobs > 0) p.jobs = usable_threads(jobs, "--jobs");
    if (threads_per_trial > 0) p.threads_per_trial = usable_threads(threads_per_trial, "--threads-per-trial");
    if (jobs > 0 && threads_per_trial <= 0) p.threads_per_trial = std::max(1, cores / p.jobs);
    if (threads_per_trial > 0 && jobs <= 0) p.jobs = std::max(1, cores / p.threads_per_trial);
    return p;
}

}  // namespace deeper::runners
