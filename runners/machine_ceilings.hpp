#pragma once
// The machine's arithmetic ceilings, measured where they run: what "x% of peak" in a speed note
// is a share of. Register loops that do nothing but multiply-add in independent chains (the
// instruction's peak; no memory traffic), and oneDNN's matmul on 2048^3 (what a tuned kernel
// reaches on a large problem), each in fp32 and, where the CPU has them, in bf16.
#include <string>
#include <vector>

namespace deeper::runners {

struct Ceiling {
    std::string what;   // e.g. "fp32 FMA register loop"
    std::string isa;    // the instructions or kernel it ran
    double gflop_per_s = 0;
};

// Each ceiling the CPU has, on `threads` threads: the best of a few repetitions (the first
// ones also bring the cores to their clock).
std::vector<Ceiling> measure_ceilings(int threads);

}  // namespace deeper::runners
