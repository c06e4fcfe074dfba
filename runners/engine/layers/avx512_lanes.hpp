#pragma once
// What the engine's AVX-512 kernels on channels-innermost data share (include in their .cpp
// only): one vector is a pixel's 16 channels of a block, loaded from fp32 or bf16 bits.
#include <immintrin.h>

#include <cstdint>

#include "runners/engine/layers/channels_innermost.hpp"

// GCC 12 warns inside its own AVX-512 headers (the _mm512_undefined_* results they start from).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace deeper::runners::layers::avx512 {

#define DEEPER_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

// The lanes of block `cb` (16 at a time) that hold one of `channels` values.
inline __mmask16 block_lanes(std::int64_t channels, std::int64_t cb) {
    const std::int64_t left = channels - cb * 16;
    return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
}
inline __mmask16 live_lanes(const ChannelsInnermost& l, std::int64_t cb) { return block_lanes(l.channels, cb); }
// What a store writes: every lane of a padded block (zeros past the channels), else the live ones.
inline __mmask16 store_lanes(const ChannelsInnermost& l, std::int64_t cb) {
    return l.padded ? __mmask16(0xFFFF) : live_lanes(l, cb);
}

DEEPER_AVX512 inline __m512 load(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
DEEPER_AVX512 inline __m512 load(const std::uint16_t* p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}
DEEPER_AVX512 inline void store(float* p, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }
DEEPER_AVX512 inline void store(std::uint16_t* p, __m512 v, __mmask16 m) {
    _mm256_mask_storeu_epi16(p, m, reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v)));  // round to nearest even
}

}  // namespace deeper::runners::layers::avx512
