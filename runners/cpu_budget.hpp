#pragma once
// How many cores this process may use: SLURM_CPUS_PER_TASK when set, else the affinity mask.
namespace deeper::runners {

int available_cores();

}  // namespace deeper::runners
