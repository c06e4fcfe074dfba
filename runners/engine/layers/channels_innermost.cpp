#include "runners/engine/layers/channels_innermost.hpp"

namespace deeper::runners::layers {

using dnnl::memory;

bool channels_innermost_kernels_run_here(memory::data_type t) {
    if (t != memory::data_type::f32 && t != memory::data_type::bf16) return false;
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    return avx512 && (t == memory::data_type::f32 || __builtin_cpu_supports("avx512bf16"));
}

std::optional<ChannelsInnermost> channels_innermost_layout(const memory::desc& d) {
    const dnnl_memory_desc_t& m = d.data;
    if (m.ndims != 4 || m.format_kind != dnnl_blocked || m.offset0 != 0) return std::nullopt;
    if (!channels_innermost_kernels_run_here(d.data_type())) return std::nullopt;
    const bool bf16 = m.data_type == dnnl_bf16;
    const auto& b = m.format_desc.blocking;
    const std::int64_t N = m.dims[0], C = m.dims[1], H = m.dims[2], W = m.dims[3], Cp = m.padded_dims[1];
    ChannelsInnermost l;
    l.images = N, l.pixels = H * W, l.channels = int(C), l.bf16 = bf16, l.blocks = (C + 15) / 16;
    if (b.inner_nblks == 0 && b.strides[1] == 1 && b.strides[3] == Cp && b.strides[2] == Cp * W &&
        b.strides[0] == Cp * H * W) {  // NHWC
        l.image = b.strides[0], l.block = 16, l.pixel = Cp;
        return l;
    }
    if (b.inner_nblks == 1 && b.inner_blks[0] == 16 && b.inner_idxs[0] == 1 && b.strides[3] == 16 &&
        b.strides[2] == 16 * W && b.strides[1] == 16 * H * W && b.strides[0] == Cp * H * W) {  // nChw16c
        l.image = b.strides[0], l.block = b.strides[1], l.pixel = 16, l.padded = true;
        return l;
    }
    return std::nullopt;
}

}  // namespace deeper::runners::layers
