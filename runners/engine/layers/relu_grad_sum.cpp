#include "runners/engine/layers/relu_grad_sum.hpp"

#include <algorithm>
#include <cstdint>

#include "runners/engine/layers/avx512_lanes.hpp"

namespace deeper::runners::layers {

namespace {

using namespace avx512;

// Elements per piece of work: 64 KiB of fp32 per operand.
constexpr std::int64_t chunk_elems = 16384;

template <class T>
DEEPER_AVX512 void run(const T* y, const T* part, T* dy, std::int64_t elems) {
    const std::int64_t chunks = (elems + chunk_elems - 1) / chunk_elems;
#pragma omp parallel for schedule(static)
    for (std::int64_t c = 0; c < chunks; ++c) {
        const std::int64_t end = std::min(elems, (c + 1) * chunk_elems);
        for (std::int64_t i = c * chunk_elems; i < end; i += 16) {
            const __mmask16 m = end - i >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (end - i)) - 1);
            const __mmask16 live = _mm512_cmp_ps_mask(load(y + i, m), _mm512_setzero_ps(), _CMP_GT_OQ);
            const __m512 sum = _mm512_add_ps(load(dy + i, m), load(part + i, m));
            store(dy + i, _mm512_maskz_mov_ps(live, sum), m);
        }
    }
}

}  // namespace

bool relu_grad_sum_runs_here(dnnl::memory::data_type t) { return channels_innermost_kernels_run_here(t); }

void relu_grad_sum(const void* y, const void* part, void* dy, std::size_t elems, bool bf16) {
    if (bf16)
        run(static_cast<const std::uint16_t*>(y), static_cast<const std::uint16_t*>(part),
            static_cast<std::uint16_t*>(dy), std::int64_t(elems));
    else
        run(static_cast<const float*>(y), static_cast<const float*>(part), static_cast<float*>(dy),
            std::int64_t(elems));
}

}  // namespace deeper::runners::layers
