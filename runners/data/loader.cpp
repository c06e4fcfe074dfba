#include "runners/data/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "nets/error.hpp"
#include "runners/engine/layout.hpp"

namespace deeper::runners::data {

Normalization channel_stats(const Dataset& d, const std::vector<std::uint32_t>& indices) {
    Normalization n;
    const std::size_t hw = std::size_t(d.height) * d.width;
    for (int c = 0; c < d.channels; ++c) {
        double s = 0, s2 = 0;
        for (std::uint32_t i : indices) {
            const std::uint8_t* p = d.image(i) + c * hw;
            for (std::size_t k = 0; k < hw; ++k) {
                const double v = p[k] / 255.0;
                s += v;
                s2 += v * v;
            }
        }
        const double cnt = double(indices.size()) * hw;
        const double mean = cnt > 0 ? s / cnt : 0.0;
        const double var = cnt > 0 ? s2 / cnt - mean * mean : 1.0;
        n.mean.push_back(float(mean));
        n.std.push_back(float(std::sqrt(std::max(var, 1e-12))));
    }
    return n;
}

std::size_t training_count(std::size_t n, std::size_t val_size, std::size_t limit, double fraction) {
    std::size_t count = n - std::min(val_size, n);
    if (fraction < 1) count = std::min(count, std::max<std::size_t>(1, std::size_t(std::llround(fraction * double(count)))));
    if (limit > 0) count = std::min(count, limit);
    return count;
}

Split split(std::size_t n, std::size_t val_size, std::uint64_t seed, std::size_t limit, double fraction) {
    std::vector<std::uint32_t> all(n);
    std::iota(all.begin(), all.end(), 0u);
    std::mt19937_64 rng(seed ^ 0x5EED5EEDull);
    std::shuffle(all.begin(), all.end(), rng);
    Split s;
    val_size = std::min(val_size, n);
    s.val.assign(all.begin(), all.begin() + val_size);
    s.train.assign(all.begin() + val_size, all.end());
    s.train.resize(training_count(n, val_size, limit, fraction));
    // Sorted: the split is a set; the order of each epoch comes from order().
    std::sort(s.val.begin(), s.val.end());
    std::sort(s.train.begin(), s.train.end());
    return s;
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

Loader::Loader(const Dataset& d, std::vector<std::uint32_t> indices, Normalization norm, Transform t)
    : d_(d), indices_(std::move(indices)), norm_(std::move(norm)), t_(t) {}

const std::vector<std::uint32_t>& Loader::order(std::uint64_t seed, int epoch, bool shuffle) const {
    if (order_epoch_ == epoch && order_seed_ == seed && order_shuffle_ == shuffle &&
        order_.size() == indices_.size())
        return order_;
    order_.resize(indices_.size());
    std::iota(order_.begin(), order_.end(), 0u);
    if (shuffle) {
        std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + std::uint64_t(epoch) + 1);
        std::shuffle(order_.begin(), order_.end(), rng);
    }
    order_seed_ = seed;
    order_epoch_ = epoch;
    order_shuffle_ = shuffle;
    return order_;
}

void Loader::render(std::size_t item, std::uint64_t key, float* out) const {
    const int H = d_.height, W = d_.width, R = t_.resolution, C = t_.channels;
    const std::uint8_t* img = d_.image(indices_[item]);
    int dy = 0, dx = 0;
    bool flip = false;
    if (t_.augment) {
        const int span = 2 * t_.pad + 1;
        dy = int(uniform_hash(key, 0) * span) - t_.pad;
        dx = int(uniform_hash(key, 1) * span) - t_.pad;
        flip = t_.flip && uniform_hash(key, 2) < 0.5f;
    }
    // The augmented image at integer (y, x): crop shift, flip, zero outside the source.
    auto at = [&](int sc, int y, int x) -> float {
        int sx = flip ? W - 1 - x : x;
        int sy = y + dy;
        sx += dx;
        if (sy < 0 || sy >= H || sx < 0 || sx >= W) return 0.f;
        return img[(std::size_t(sc) * H + sy) * W + sx];
    };
    const float sy_scale = float(H) / R, sx_scale = float(W) / R;
    for (int c = 0; c < C; ++c) {
        // Source channels: the same one, replicated from gray, or the mean of RGB for gray nets.
        const int sc = d_.channels == C ? c : (d_.channels == 1 ? 0 : -1);
        const float mean = sc >= 0 ? norm_.mean[sc]
                                   : std::accumulate(norm_.mean.begin(), norm_.mean.end(), 0.f) / d_.channels;
        const float sd = sc >= 0 ? norm_.std[sc]
                                 : std::accumulate(norm_.std.begin(), norm_.std.end(), 0.f) / d_.channels;
        auto pixel = [&](int y, int x) {
            if (sc >= 0) return at(sc, y, x);
            float s = 0;
            for (int k = 0; k < d_.channels; ++k) s += at(k, y, x);
            return s / d_.channels;
        };
        for (int y = 0; y < R; ++y)
            for (int x = 0; x < R; ++x) {
                float v;
                if (R == H && R == W) {
                    v = pixel(y, x);
                } else {  // bilinear, half-pixel centres (PyTorch's align_corners=False)
                    const float fy = std::max(0.f, (y + 0.5f) * sy_scale - 0.5f);
                    const float fx = std::max(0.f, (x + 0.5f) * sx_scale - 0.5f);
                    const int y0 = std::min(int(fy), H - 1), x0 = std::min(int(fx), W - 1);
                    const int y1 = std::min(y0 + 1, H - 1), x1 = std::min(x0 + 1, W - 1);
                    const float wy = fy - y0, wx = fx - x0;
                    v = (1 - wy) * ((1 - wx) * pixel(y0, x0) + wx * pixel(y0, x1)) +
                        wy * ((1 - wx) * pixel(y1, x0) + wx * pixel(y1, x1));
                }
                out[(std::size_t(c) * R + y) * R + x] = (v / 255.f - mean) / sd;
            }
    }
}

int Loader::fill(std::uint64_t seed, int epoch, std::size_t b, int batch, bool shuffle,
                 float* images, std::int32_t* labels) const {
    const auto& o = order(seed, epoch, shuffle);
    const std::size_t first = b * std::size_t(batch);
    const int real = int(std::min<std::size_t>(batch, o.size() - std::min(o.size(), first)));
    const std::size_t per = std::size_t(t_.channels) * t_.resolution * t_.resolution;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < batch; ++i) {
        const std::size_t item = o[(first + std::size_t(i < real ? i : i % std::max(real, 1))) % o.size()];
        const std::uint64_t key = seed ^ (std::uint64_t(epoch) << 40) ^ (std::uint64_t(indices_[item]) * 0x9E3779B97F4A7C15ull);
        render(item, key, images + i * per);
        labels[i] = d_.labels[indices_[item]];
    }
    return real;
}

}  // namespace deeper::runners::data
