#include "runners/experiment/timed_metrics.hpp"

#include <algorithm>

#include "runners/engine/inference_timing.hpp"

namespace deeper::runners {

TimedMetrics time_metrics(const nets::Graph& g, const std::vector<std::string>& which, int threads,
                          Precision precision, int batch) {
    TimedMetrics out;
    auto timed = [&](int at_batch) {
        InferenceTimingOptions o;
        o.batch = at_batch;
        o.threads = std::max(1, threads);
        o.precision = precision;
        const InferenceTiming t = time_inference(g, o);
        (t.cached ? out.cached : out.measured) += 1;
        out.seconds += t.seconds;
        return t;
    };
    auto wanted = [&](const char* m) { return std::find(which.begin(), which.end(), m) != which.end(); };
    if (wanted("latency_ms")) {
        const InferenceTiming t = timed(1);
        out.values["latency_ms"] = t.median_ms;
        out.values["latency_p25_ms"] = t.p25_ms;
        out.values["latency_p75_ms"] = t.p75_ms;
        out.values["latency_measure_s"] = t.seconds;
    }
    if (wanted("throughput")) {
        const InferenceTiming t = timed(batch);
        out.values["throughput"] = t.img_per_s();
        out.values["throughput_batch"] = batch;
        out.values["throughput_measure_s"] = t.seconds;
    }
    return out;
}

}  // namespace deeper::runners
