#include "runners/data/render.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace deeper::runners::data {

namespace {

// For each output position along one axis, the box positions it reads and their weights.
struct AxisTaps {
    std::vector<int> first;  // output o reads taps first[o] .. first[o + 1] - 1
    std::vector<int> at;
    std::vector<float> weight;
};

// Fills `t` (its vectors keep their capacity: a loader thread allocates only for its first
// sample of each size).
void axis_taps(int length, int out, AxisTaps& t) {
    t.first.assign(1, 0);
    t.at.clear();
    t.weight.clear();
    if (length <= out) {
        const float scale = float(length) / float(out);
        for (int o = 0; o < out; ++o) {
            const float f = std::max(0.f, (float(o) + 0.5f) * scale - 0.5f);
            const int i0 = std::min(int(f), length - 1), i1 = std::min(i0 + 1, length - 1);
            const float w = f - float(i0);
            t.at.insert(t.at.end(), {i0, i1});
            t.weight.insert(t.weight.end(), {1 - w, w});
            t.first.push_back(int(t.at.size()));
        }
        return;
    }
    const double scale = double(length) / out;
    for (int o = 0; o < out; ++o) {
        const double a = o * scale, b = (o + 1) * scale;
        for (int i = int(a); i < std::min(length, int(std::ceil(b))); ++i) {
            const double w = (std::min<double>(i + 1, b) - std::max<double>(i, a)) / scale;
            if (w <= 0) continue;
            t.at.push_back(i);
            t.weight.push_back(float(w));
        }
        t.first.push_back(int(t.at.size()));
    }
}

}  // namespace

void render_box(const Planes& src, const Box& box, bool flip, const InputShape& shape, const Normalization& norm,
                float* out) {
    const int R = shape.resolution, C = shape.channels, H = src.height, W = src.width;
    thread_local AxisTaps ty, tx;
    axis_taps(box.h, R, ty);
    axis_taps(box.w, R, tx);
    const std::size_t plane = std::size_t(H) * W;
    // A source pixel at box coordinates (by, bx): zero outside the image.
    auto at = [&](int sc, int by, int bx) -> float {
        const int sy = box.y + by, sx = box.x + (flip ? box.w - 1 - bx : bx);
        if (sy < 0 || sy >= H || sx < 0 || sx >= W) return 0.f;
        return src.pixels[std::size_t(sc) * plane + std::size_t(sy) * W + sx];
    };
    for (int c = 0; c < C; ++c) {
        // Source channels: the same one, replicated from gray, or the mean of RGB for gray nets.
        const int sc = src.channels == C ? c : (src.channels == 1 ? 0 : -1);
        const float mean = sc >= 0 ? norm.mean[sc]
                                   : std::accumulate(norm.mean.begin(), norm.mean.end(), 0.f) / src.channels;
        const float sd = sc >= 0 ? norm.std[sc] : std::accumulate(norm.std.begin(), norm.std.end(), 0.f) / src.channels;
        auto pixel = [&](int by, int bx) {
            if (sc >= 0) return at(sc, by, bx);
            float s = 0;
            for (int k = 0; k < src.channels; ++k) s += at(k, by, bx);
            return s / src.channels;
        };
        for (int y = 0; y < R; ++y)
            for (int x = 0; x < R; ++x) {
                float v = 0;
                for (int i = ty.first[y]; i < ty.first[y + 1]; ++i) {
                    float row = 0;
                    for (int j = tx.first[x]; j < tx.first[x + 1]; ++j) row += tx.weight[j] * pixel(ty.at[i], tx.at[j]);
                    v += ty.weight[i] * row;
                }
                out[(std::size_t(c) * R + y) * R + x] = (v / 255.f - mean) / sd;
            }
    }
}

}  // namespace deeper::runners::data
