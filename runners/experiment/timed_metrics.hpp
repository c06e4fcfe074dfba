#pragma once
// The metrics timed on this machine rather than counted from the net (search::timed_on_this_machine):
// latency_ms, one inference at batch 1, and throughput, inference images per second at a
// trial's batch, both on the trial's threads and precision and with their spread, the way a
// search's objectives and a stage's `measure` record them. Each net is timed once per machine
// (time_inference's cache).
#include <map>
#include <string>
#include <vector>

#include "nets/graph.hpp"
#include "runners/engine/precision.hpp"

namespace deeper::runners {

struct TimedMetrics {
    // latency_ms, latency_p25_ms, latency_p75_ms, latency_measure_s; throughput,
    // throughput_batch, throughput_measure_s (a *_measure_s of 0: read back from the cache)
    std::map<std::string, double> values;
    int measured = 0, cached = 0;  // timings taken here, or read back
    double seconds = 0;            // what the timings taken here took
};

// `which`: names among latency_ms and throughput (others are ignored).
TimedMetrics time_metrics(const nets::Graph& g, const std::vector<std::string>& which, int threads,
                          Precision precision, int batch);

}  // namespace deeper::runners
