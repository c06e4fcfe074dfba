#pragma once
// Activations whose channels are innermost, in blocks of 16 (NHWC, as bf16 convs write them,
// and nChw16c, as fp32 ones do): the layouts the engine's own AVX-512 kernels (batch norm,
// depthwise weight gradient) read with one vector per pixel and channel block.
#include <cstdint>
#include <optional>

#include <oneapi/dnnl/dnnl.hpp>

namespace deeper::runners::layers {

// Where lane i of channel block cb (channels cb*16 + i) of pixel s of image n lives:
// base[n*image + cb*block + s*pixel + i].
struct ChannelsInnermost {
    std::int64_t images = 0, blocks = 0, pixels = 0;
    std::int64_t image = 0, block = 0, pixel = 0;  // strides in elements
    int channels = 0;
    bool padded = false;  // nChw16c: the lanes past `channels` exist and are written as zeros
    bool bf16 = false;
};

// This CPU has the instructions the kernels need for data of type t: AVX-512 F/BW/VL/DQ, and
// AVX512-BF16 for bf16.
bool channels_innermost_kernels_run_here(dnnl::memory::data_type t);

// The layout of `d` (4-d, fp32 or bf16) when the kernels can run on it here, else nullopt.
std::optional<ChannelsInnermost> channels_innermost_layout(const dnnl::memory::desc& d);

}  // namespace deeper::runners::layers
