#include "runners/engine/inference_timing.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "runners/engine/engine.hpp"
#include "runners/engine/quiet_gate.hpp"
#include "runners/engine/tune_cache.hpp"
#include "search/fnv_hash.hpp"

namespace deeper::runners {

namespace {

// An op's attributes as text, every field that changes what runs.
std::string attrs_text(const nets::Attrs& a) {
    return std::visit(
        [](const auto& x) -> std::string {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, nets::ConvAttrs>)
                return fmt::format("conv {} {}x{} s{} p{},{},{},{} g{} b{}", x.out_channels, x.kh, x.kw, x.stride,
                                   x.pad_t, x.pad_l, x.pad_b, x.pad_r, x.groups, int(x.bias));
            else if constexpr (std::is_same_v<T, nets::PoolAttrs>)
                return fmt::format("pool {}x{} s{} p{},{},{},{} x{}", x.kh, x.kw, x.stride, x.pad_t, x.pad_l, x.pad_b,
                                   x.pad_r, int(x.exclude_pad));
            else if constexpr (std::is_same_v<T, nets::LrnAttrs>)
                return fmt::format("lrn {} {} {} {}", x.size, x.alpha, x.beta, x.k);
            else if constexpr (std::is_same_v<T, nets::LinearAttrs>)
                return fmt::format("linear {} b{}", x.out_features, int(x.bias));
            else if constexpr (std::is_same_v<T, nets::BatchNormAttrs>)
                return fmt::format("bn {}", x.eps);
            else if constexpr (std::is_same_v<T, nets::DropAttrs>)
                return fmt::format("drop {}", x.rate);
            else if constexpr (std::is_same_v<T, nets::ZeroPadAttrs>)
                return fmt::format("zero-pad {} s{}", x.out_channels, x.stride);
            else
                return "";
        },
        a);
}

double percentile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double at = q * double(v.size() - 1);
    const auto lo = std::size_t(at);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (at - double(lo)) * (v[hi] - v[lo]);
}

}  // namespace

double InferenceTiming::img_per_s() const { return median_ms > 0 ? double(batch) * 1000.0 / median_ms : 0; }

std::uint64_t graph_fingerprint(const nets::Graph& g) {
    std::string text;
    for (const auto& n : g.nodes) {
        text += fmt::format("{} [{}] {}x{}x{} {};", nets::op_name(n.op), fmt::join(n.inputs, ","), n.out.c, n.out.h,
                            n.out.w, attrs_text(n.attrs));
    }
    return search::fnv1a(fmt::format("{}outputs {}", text, fmt::join(g.outputs, ",")));
}

InferenceTiming time_inference(const nets::Graph& g, const InferenceTimingOptions& o) {
    const std::string key = fmt::format("inference|{:016x}|batch {}|threads {}|{}", graph_fingerprint(g), o.batch,
                                        o.threads, precision_name(o.precision));
    std::optional<TuneCache> cache;
    if (o.cache_folder != "off") cache.emplace(o.cache_folder);
    if (cache)
        if (const auto median = cache->find(key + "|median")) {
            InferenceTiming t;
            t.batch = o.batch;
            t.median_ms = *median;
            t.p25_ms = cache->find(key + "|p25").value_or(*median);
            t.p75_ms = cache->find(key + "|p75").value_or(*median);
            t.cached = true;
            return t;
        }
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    EngineOptions eo;
    eo.batch = o.batch;
    eo.threads = o.threads;
    eo.training = false;
    eo.precision = o.precision;
    Engine e(g, eo);
    std::fill(e.input(), e.input() + e.input_floats(), 0.5f);
    std::vector<double> ms;
    {
        const QuietGate::Quiet quiet(process_quiet_gate());  // the compile above ran beside the others
        for (int i = 0; i < o.warmup; ++i) e.forward(false);
        const auto timed = Clock::now();
        while (int(ms.size()) < o.min_runs ||
               std::chrono::duration<double>(Clock::now() - timed).count() < o.min_seconds) {
            const auto t0 = Clock::now();
            e.forward(false);
            ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        }
    }
    InferenceTiming t;
    t.batch = o.batch;
    t.median_ms = percentile(ms, 0.5);
    t.p25_ms = percentile(ms, 0.25);
    t.p75_ms = percentile(ms, 0.75);
    t.runs = int(ms.size());
    t.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (cache) {
        cache->record(key + "|median", t.median_ms);
        cache->record(key + "|p25", t.p25_ms);
        cache->record(key + "|p75", t.p75_ms);
    }
    return t;
}

}  // namespace deeper::runners
