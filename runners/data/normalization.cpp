#include "runners/data/normalization.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "nets/error.hpp"
#include "runners/data/image_decode.hpp"

namespace deeper::runners::data {

namespace {

struct Sums {
    std::vector<double> sum, sum2;
    double count = 0;  // pixels per channel
};

Normalization from_sums(const Sums& s) {
    Normalization n;
    for (std::size_t c = 0; c < s.sum.size(); ++c) {
        const double mean = s.count > 0 ? s.sum[c] / s.count : 0.0;
        const double var = s.count > 0 ? s.sum2[c] / s.count - mean * mean : 1.0;
        n.mean.push_back(float(mean));
        n.std.push_back(float(std::sqrt(std::max(var, 1e-12))));
    }
    return n;
}

// Decodes a sample of the files (at 1/2..1/8 scale when they are large), each adding its pixels.
Normalization streamed_stats(const Dataset& d, const std::vector<std::uint32_t>& indices, std::size_t sample) {
    const std::size_t n = std::min(sample, indices.size());
    std::vector<Sums> per(n);
    tbb::parallel_for(std::size_t(0), n, [&](std::size_t k) {
        Sums& s = per[k];
        s.sum.assign(3, 0.0);
        s.sum2.assign(3, 0.0);
        Image im;
        try {
            im = decode_image(d.files[indices[k * indices.size() / n]], 64, d.max_pixels);
        } catch (const InputError&) {
            if (d.skip_corrupt) return;  // left out of the sample; training counts it
            throw;
        }
        for (std::size_t p = 0; p < im.rgb.size(); ++p) {
            const double v = im.rgb[p] / 255.0;
            s.sum[p % 3] += v;
            s.sum2[p % 3] += v * v;
        }
        s.count = double(im.width) * im.height;
    });
    Sums total{std::vector<double>(std::size_t(d.channels), 0.0), std::vector<double>(std::size_t(d.channels), 0.0), 0};
    for (const Sums& s : per)
        for (int c = 0; c < d.channels; ++c) {
            total.sum[c] += s.sum[c];
            total.sum2[c] += s.sum2[c];
        }
    for (const Sums& s : per) total.count += s.count;
    return from_sums(total);
}

}  // namespace

Normalization channel_stats(const Dataset& d, const std::vector<std::uint32_t>& indices, std::size_t sample) {
    if (d.streamed() && !indices.empty()) return streamed_stats(d, indices, sample);
    Sums s{std::vector<double>(std::size_t(d.channels), 0.0), std::vector<double>(std::size_t(d.channels), 0.0), 0};
    const std::size_t hw = std::size_t(d.height) * d.width;
    for (int c = 0; c < d.channels; ++c)
        for (std::uint32_t i : indices) {
            const std::uint8_t* p = d.image(i) + c * hw;
            for (std::size_t k = 0; k < hw; ++k) {
                const double v = p[k] / 255.0;
                s.sum[c] += v;
                s.sum2[c] += v * v;
            }
        }
    s.count = double(indices.size()) * hw;
    return from_sums(s);
}

Normalization named_normalization(const std::string& how, const Dataset& d, const std::vector<std::uint32_t>& train) {
    const std::size_t channels = std::size_t(d.channels);
    if (how == "dataset") return channel_stats(d, train);
    if (how == "none") return {std::vector<float>(channels, 0.f), std::vector<float>(channels, 1.f)};
    if (how == "imagenet") {
        if (channels == 3) return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};
        return {std::vector<float>(channels, 0.449f), std::vector<float>(channels, 0.226f)};
    }
    throw InputError(fmt::format("normalize: expected dataset, imagenet or none, got '{}'", how));
}

}  // namespace deeper::runners::data
