#pragma once
// Which region of a source image becomes the net's input: the boxes of torchvision's
// RandomResizedCrop and CenterCrop, and the pad-and-shift crop of CIFAR-style training. Boxes are
// in whole source pixels and may reach outside the image (a shift past the edge reads zeros).
// Random choices are uniform_hash draws of a per-sample key: the same key, the same box.
#include <cstdint>

namespace deeper::runners::data {

struct Box {
    int x = 0, y = 0, w = 0, h = 0;  // top-left corner and size in source pixels
};

struct ResizedCropRange {
    double scale_min = 0.08, scale_max = 1.0;    // share of the image's area
    double ratio_min = 3.0 / 4, ratio_max = 4.0 / 3;  // width / height
};

// torchvision's RandomResizedCrop.get_params: ten tries at an area and aspect ratio drawn from
// the range (the ratio log-uniformly) that fit the image, else the whole image cropped to the
// nearest allowed ratio, centred.
Box random_resized_crop(int width, int height, const ResizedCropRange& range, std::uint64_t key);

// The centred square whose side is `fraction` of the shorter side: Resize(side / fraction)
// followed by CenterCrop(side) in torchvision's terms (0.875: ImageNet's 256 -> 224).
Box center_crop(int width, int height, double fraction);

// The centred square of the shorter side, shifted by up to `pad` pixels each way (the random crop
// of an image padded by `pad`).
Box shifted_crop(int width, int height, int pad, std::uint64_t key);

}  // namespace deeper::runners::data
