#pragma once
// How long one inference of a net takes on this machine, measured by deeper's own engine: the
// median over enough runs after a warm-up, with its spread; cached per machine (the tuner's
// cache file, same machine key) by the graph's fingerprint, batch, threads and precision, so
// a net proposed again by a search is not measured again.
#include <cstdint>
#include <string>

#include "nets/graph.hpp"
#include "runners/engine/precision.hpp"

namespace deeper::runners {

struct InferenceTimingOptions {
    int batch = 1;
    int threads = 1;
    Precision precision = Precision::f32;
    int warmup = 3;
    int min_runs = 20;
    double min_seconds = 0.2;  // and at least this long, so a fast net is not timed on noise alone
    std::string cache_folder;  // "" : the tuner's default folder; "off": no cache
};

struct InferenceTiming {
    int batch = 1;
    double median_ms = 0;  // one forward pass of `batch` images
    double p25_ms = 0, p75_ms = 0;
    int runs = 0;
    double seconds = 0;    // what measuring took (compile included); 0 when cached
    bool cached = false;
    double img_per_s() const;  // batch images per median pass
};

// A stable 64-bit hash (FNV-1a of a text) of what the engine runs: every node's op,
// attributes, inputs and shape; not its names or weights.
std::uint64_t graph_fingerprint(const nets::Graph& g);

InferenceTiming time_inference(const nets::Graph& g, const InferenceTimingOptions& o);

}  // namespace deeper::runners
