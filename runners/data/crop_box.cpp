#include "runners/data/crop_box.hpp"

#include <algorithm>
#include <cmath>

#include "runners/engine/layout.hpp"

namespace deeper::runners::data {

namespace {

// Python's round() on .5 ties goes to even; torchvision's crops use it.
int round_half_even(double v) { return int(std::nearbyint(v)); }

// A draw from 0..n-1 (n >= 1).
int pick(std::uint64_t key, std::uint64_t index, int n) {
    return std::min(n - 1, int(uniform_hash(key, index) * float(n)));
}

}  // namespace

Box random_resized_crop(int width, int height, const ResizedCropRange& r, std::uint64_t key) {
    const double area = double(width) * height;
    const double log_lo = std::log(r.ratio_min), log_hi = std::log(r.ratio_max);
    for (int attempt = 0; attempt < 10; ++attempt) {
        const std::uint64_t k = 16 + 4 * std::uint64_t(attempt);
        const double target = area * (r.scale_min + (r.scale_max - r.scale_min) * uniform_hash(key, k));
        const double ratio = std::exp(log_lo + (log_hi - log_lo) * uniform_hash(key, k + 1));
        const int w = round_half_even(std::sqrt(target * ratio)), h = round_half_even(std::sqrt(target / ratio));
        if (w > 0 && w <= width && h > 0 && h <= height)
            return {pick(key, k + 2, width - w + 1), pick(key, k + 3, height - h + 1), w, h};
    }
    int w = width, h = height;
    const double in_ratio = double(width) / height;
    if (in_ratio < r.ratio_min) h = std::max(1, round_half_even(w / r.ratio_min));
    else if (in_ratio > r.ratio_max) w = std::max(1, round_half_even(h * r.ratio_max));
    return {(width - w) / 2, (height - h) / 2, w, h};
}

Box center_crop(int width, int height, double fraction) {
    const int side = std::max(1, round_half_even(std::min(width, height) * fraction));
    return {round_half_even((width - side) / 2.0), round_half_even((height - side) / 2.0), side, side};
}

Box shifted_crop(int width, int height, int pad, std::uint64_t key) {
    Box b = center_crop(width, height, 1.0);
    const int span = 2 * pad + 1;
    b.y += int(uniform_hash(key, 0) * float(span)) - pad;
    b.x += int(uniform_hash(key, 1) * float(span)) - pad;
    return b;
}

}  // namespace deeper::runners::data
