#include "runners/cpu_budget.hpp"

#include <sched.h>

#include <cstdlib>
#include <thread>

namespace deeper::runners {

int available_cores() {
    if (const char* s = std::getenv("SLURM_CPUS_PER_TASK")) {
        int n = std::atoi(s);
        if (n > 0) return n;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    return int(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace deeper::runners
