#pragma once
// Training precision. f32: every tensor in fp32. bf16: mixed precision as the fastest CPU
// trainers do it: conv and linear read bf16 activations and bf16 copies of the weights and
// write bf16 activations and input gradients; the master weights, the optimizer state, the
// weight gradients, batch-norm statistics and the loss stay fp32.
#include <bit>
#include <cstdint>
#include <string>

#include <oneapi/dnnl/dnnl.hpp>

namespace deeper::runners {

enum class Precision { f32, bf16 };

// "f32" or "bf16". Unknown names, and bf16 on a CPU without bf16 instructions (no silent slow
// emulation), are an InputError naming what was found.
Precision parse_precision(const std::string& name);
std::string precision_name(Precision p);
// AVX512-BF16 (e.g. AMD Zen 4, Intel Cooper Lake) or AMX (Intel Sapphire Rapids and later).
bool cpu_has_bf16();
// AMX (Intel Sapphire Rapids and later), as oneDNN dispatches: ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16
// shows on such a machine what a CPU with AVX512-BF16 alone gets.
bool cpu_has_amx();

// The data type of the activations the matrix ops (conv, linear) compute in.
inline dnnl::memory::data_type compute_type(Precision p) {
    return p == Precision::bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

// bf16 is the upper half of an fp32: conversions for the engine's own loops.
inline float bf16_to_float(std::uint16_t b) { return std::bit_cast<float>(std::uint32_t(b) << 16); }

inline std::uint16_t float_to_bf16(float f) {  // round to nearest even, NaN stays NaN
    std::uint32_t u = std::bit_cast<std::uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return std::uint16_t(u >> 16);
}

}  // namespace deeper::runners
