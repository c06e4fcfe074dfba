#pragma once
// How many cores this process may use: SLURM_CPUS_PER_TASK when set, else the affinity mask.
#include <string_view>

namespace deeper::runners {

int available_cores();

// The threads to run with: `requested` (0 = every available core), at most the available cores.
// More would not be faster, and thousands of OpenMP threads on a few cores spin for minutes or
// exhaust the stacks; asking for more prints a warning once. Negative counts are an InputError.
int usable_threads(int requested, std::string_view what);

}  // namespace deeper::runners
