#pragma once
// A box of a source image made into one input of the net: resampled to the net's resolution,
// mirrored, mapped to the net's channels and normalized.
#include <cstdint>

#include "runners/data/crop_box.hpp"
#include "runners/data/normalization.hpp"

namespace deeper::runners::data {

// An 8-bit source image, planes C x H x W.
struct Planes {
    const std::uint8_t* pixels = nullptr;
    int channels = 0, height = 0, width = 0;
};

struct InputShape {
    int channels = 1, resolution = 28;
};

// `box` of `src` resampled to shape.resolution squared: bilinear with half-pixel centres
// (PyTorch's align_corners=False) along an axis the box is shorter than the output, the mean of
// the covered source pixels (antialiased) along one it is longer; box pixels outside the source
// read 0. `flip` mirrors it left to right. A gray source is replicated to a colour net, a colour
// source averaged for a gray net. Writes shape.channels x R x R floats, (v / 255 - mean) / std.
void render_box(const Planes& src, const Box& box, bool flip, const InputShape& shape, const Normalization& norm,
                float* out);

}  // namespace deeper::runners::data
