#pragma once
// What a run may allocate, known before it allocates: a net too big for the machine (depth
// 100,000, resolution 3,000) is refused with exit 2 and the numbers, not found by the kernel's
// OOM killer or a bad_alloc hours later.
#include <cstdint>
#include <optional>
#include <string_view>

#include "nets/graph.hpp"
#include "runners/engine/precision.hpp"

namespace deeper::runners {

// Bytes this process may still allocate: the kernel's MemAvailable, capped by the memory
// cgroup's limit (SLURM's --mem, containers). nullopt when neither can be read.
std::optional<std::uint64_t> available_memory();

// Throws InputError "<what> needs N GiB of memory; M GiB are available" when it cannot fit.
void require_memory(std::uint64_t bytes, std::string_view what);

// A lower bound on what training `g` at `batch` takes, from the graph alone (before any
// compile): fp32 weights and their gradients, and the input of every conv and linear layer,
// which backward reads and so no two of them can share memory.
std::uint64_t training_memory_floor(const nets::Graph& g, int batch, Precision p);

}  // namespace deeper::runners
