#include "runners/machine_ceilings.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "runners/engine/precision.hpp"

namespace deeper::runners {

namespace {

using Clock = std::chrono::steady_clock;

// Enough independent accumulators to cover the multiply-add latency on two pipes (4-6 cycles
// on current cores, a 512-bit op counting twice on Zen 4's 256-bit units).
constexpr int kChains = 16;
constexpr std::int64_t kIterations = 20'000'000;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The sum of the accumulators' lanes: returned so the loops are not optimized away.
__attribute__((target("avx512f"))) float lane_sum(const __m512 (&acc)[kChains]) {
    alignas(64) float lanes[16];
    float s = 0;
    for (int i = 0; i < kChains; ++i) {
        _mm512_store_ps(lanes, acc[i]);
        for (float x : lanes) s += x;
    }
    return s;
}

__attribute__((target("avx512f"))) float fma_loop(std::int64_t iterations) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-7f);
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (std::int64_t it = 0; it < iterations; ++it)
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    return lane_sum(acc);
}

__attribute__((target("avx512f,avx512bf16"))) float bf16_dot_loop(std::int64_t iterations) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(float(i) * 1e-7f);
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);  // 1, ~6e-8
    for (std::int64_t it = 0; it < iterations; ++it)
#pragma GCC unroll 16
        for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    return lane_sum(acc);
}

// GFLOP/s of `loop` run on every thread at once: `flop_per_op` per vector instruction.
template <class Loop>
double register_loop_gflops(int threads, double flop_per_op, Loop loop) {
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t = Clock::now();
        float s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
        s += loop(kIterations / kChains);
        const double sec = seconds_since(t);
        sink = sink + s;
        best = std::max(best, double(kIterations / kChains) * kChains * threads * flop_per_op / sec / 1e9);
    }
    return best;
}

// oneDNN's matmul on n x n x n in `dt` (fp32 output), the weights in its own layout.
Ceiling matmul_ceiling(dnnl::memory::data_type dt, int threads) {
    using namespace dnnl;
    constexpr memory::dim n = 2048;
    engine eng(engine::kind::cpu, 0);
    stream s(eng);
    const memory::desc a({n, n}, dt, memory::format_tag::ab), b_any({n, n}, dt, memory::format_tag::any),
        c({n, n}, memory::data_type::f32, memory::format_tag::ab);
    const matmul::primitive_desc pd(matmul::desc(a, b_any, c), eng);
    memory ma(a, eng), mb(pd.weights_desc(), eng), mc(c, eng);
    std::fill_n(static_cast<std::uint8_t*>(ma.get_data_handle()), a.get_size(), 0x3c);  // small finite values
    std::fill_n(static_cast<std::uint8_t*>(mb.get_data_handle()), pd.weights_desc().get_size(), 0x3c);
    const matmul prim(pd);
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t = Clock::now();
        prim.execute(s, {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
        s.wait();
        best = std::max(best, 2.0 * n * n * n / seconds_since(t) / 1e9);
    }
    omp_set_num_threads(before);
    const std::string type = dt == memory::data_type::bf16 ? "bf16" : "fp32";
    return {"oneDNN matmul 2048^3 " + type, pd.impl_info_str(), best};
}

}  // namespace

std::vector<Ceiling> measure_ceilings(int threads) {
    std::vector<Ceiling> out;
    if (__builtin_cpu_supports("avx512f"))
        out.push_back({"fp32 FMA register loop", "vfmadd231ps zmm",
                       register_loop_gflops(threads, 32, [](std::int64_t n) { return fma_loop(n); })});
    if (cpu_has_bf16())
        out.push_back({"bf16 dot-product register loop", "vdpbf16ps zmm",
                       register_loop_gflops(threads, 64, [](std::int64_t n) { return bf16_dot_loop(n); })});
    out.push_back(matmul_ceiling(dnnl::memory::data_type::f32, threads));
    if (cpu_has_bf16()) out.push_back(matmul_ceiling(dnnl::memory::data_type::bf16, threads));
    return out;
}

}  // namespace deeper::runners
