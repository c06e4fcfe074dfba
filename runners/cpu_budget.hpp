#pragma once
// How many cores this process may use: SLURM_CPUS_PER_TASK when set, else the affinity mask.
#include <string>
#include <string_view>

namespace deeper::runners {

int available_cores();

// The threads to run with: `requested` (0 = every available core), at most the available cores.
// More would not be faster, and thousands of OpenMP threads on a few cores spin for minutes or
// exhaust the stacks; asking for more prints a warning once. Negative counts are an InputError.
int usable_threads(int requested, std::string_view what);

// The system's one-minute load average (runnable threads), or a negative number when unknown.
double load_average();

// A sentence for timings measured while other work ran (a 1-minute load of half a core or more):
// OpenMP threads that share cores with it wait for each other at every barrier, so a step can
// take many times what it takes on idle cores. Empty when the cores were idle or it is unknown.
std::string busy_cores_note(double load, int cores);

}  // namespace deeper::runners
