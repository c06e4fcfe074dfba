#pragma once
// The per-channel mean and deviation the input is normalized by: the training images' own
// statistics, ImageNet's (for torchvision weights), or none.
#include <cstdint>
#include <string>
#include <vector>

#include "runners/data/dataset.hpp"

namespace deeper::runners::data {

struct Normalization {
    std::vector<float> mean, std;  // per source channel, on the [0, 1] scale
};

// The statistics of the images `indices` of `d`. A streamed set (image files) is measured on an
// evenly spaced sample of at most `sample` of them, decoded small: decoding all of ImageNet to
// learn three means would take longer than an epoch.
Normalization channel_stats(const Dataset& d, const std::vector<std::uint32_t>& indices, std::size_t sample = 2000);

// By name: "dataset" (channel_stats of the training images), "imagenet" (torchvision's means and
// deviations; a gray set gets their averages) or "none" (pixel / 255). Throws InputError else.
Normalization named_normalization(const std::string& how, const Dataset& d, const std::vector<std::uint32_t>& train);

}  // namespace deeper::runners::data
