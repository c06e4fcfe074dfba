#include "runners/cpu_budget.hpp"

#include <fmt/format.h>
#include <sched.h>

#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "nets/error.hpp"

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

int usable_threads(int requested, std::string_view what) {
    if (requested < 0) throw InputError(fmt::format("{} {}: expected 0 (all cores) or more", what, requested));
    const int cores = available_cores();
    if (requested == 0) return cores;
    if (requested <= cores) return requested;
    static std::mutex m;
    static std::set<std::string, std::less<>> warned;  // once per option, not once per trial
    std::lock_guard lock(m);
    if (warned.emplace(what).second)
        std::cerr << fmt::format("deeper: warning: {} {} is more than the {} core(s) this process may use; "
                                 "using {}\n", what, requested, cores, cores);
    return cores;
}

double load_average() {
    double load = -1;
    return getloadavg(&load, 1) == 1 ? load : -1;
}

std::string busy_cores_note(double load, int cores) {
    if (load < 0.5) return "";
    return fmt::format("the machine was busy when measuring began (1-minute load {:.1f} on {} core(s)): "
                       "where other work shares the cores, these times can be several times what idle cores take",
                       load, cores);
}

}  // namespace deeper::runners
