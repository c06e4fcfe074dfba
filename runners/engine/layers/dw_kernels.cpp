#include "runners/engine/layers/dw_kernels.hpp"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "runners/engine/layers/avx512_lanes.hpp"
#include "runners/engine/layout.hpp"
#include "runners/engine/precision.hpp"

namespace deeper::runners::layers {

namespace {

using dnnl::memory;
using namespace avx512;

// The output rows (or columns) whose tap `i` lands inside an input of `size`: [first, end).
struct TapRange {
    std::int64_t first, end;
};
TapRange tap_range(std::int64_t out, std::int64_t size, int stride, int pad, int i) {
    const std::int64_t lo = pad - i, hi = size - 1 + pad - i;  // oh * stride must lie in [lo, hi]
    if (hi < 0) return {0, 0};
    return {lo <= 0 ? 0 : (lo + stride - 1) / stride, std::min(out, hi / stride + 1)};
}

// 16 channels per vector, tap by tap: each work item is one image's channel block, its sums
// in float over the image's pixels and in double across images (per thread, added up last).
template <class T>
DEEPER_AVX512 void vector_loop(const nets::ConvAttrs& a, const ChannelsInnermost& xl, const ChannelsInnermost& yl,
                               std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW, const T* x,
                               const T* dy, float* dw, std::vector<double>& sums) {
    const int K = a.kh * a.kw, s = a.stride;
    const std::int64_t blocks = xl.blocks, images = xl.images, per_thread = blocks * K * 16;
    std::fill(sums.begin(), sums.end(), 0.0);
    const int threads = int(sums.size() / std::size_t(per_thread));  // as many as the sums were made for
#pragma omp parallel for schedule(static) num_threads(threads)
    for (std::int64_t w = 0; w < blocks * images; ++w) {
        const std::int64_t cb = w / images, n = w % images;
        const __mmask16 m = live_lanes(xl, cb);
        const T* xs = x + n * xl.image + cb * xl.block;
        const T* ys = dy + n * yl.image + cb * yl.block;
        const std::int64_t xp = xl.pixel, yp = yl.pixel;
        double* mine = &sums[std::size_t(omp_get_thread_num()) * per_thread + cb * K * 16];
        for (int i = 0; i < a.kh; ++i) {
            const TapRange rows = tap_range(OH, H, s, a.pad_t, i);
            for (int j = 0; j < a.kw; ++j) {
                const TapRange cols = tap_range(OW, W, s, a.pad_l, j);
                __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;  // two chains hide the FMA latency
                for (std::int64_t oh = rows.first; oh < rows.end; ++oh) {
                    const T* yrow = ys + oh * OW * yp;
                    const std::int64_t xrow = (oh * s - a.pad_t + i) * W - a.pad_l + j;  // + ow * s
                    std::int64_t ow = cols.first;
                    for (; ow + 2 <= cols.end; ow += 2) {
                        acc0 = _mm512_fmadd_ps(load(yrow + ow * yp, m), load(xs + (xrow + ow * s) * xp, m), acc0);
                        acc1 = _mm512_fmadd_ps(load(yrow + (ow + 1) * yp, m),
                                               load(xs + (xrow + (ow + 1) * s) * xp, m), acc1);
                    }
                    if (ow < cols.end)
                        acc0 = _mm512_fmadd_ps(load(yrow + ow * yp, m), load(xs + (xrow + ow * s) * xp, m), acc0);
                }
                const __m512 acc = _mm512_add_ps(acc0, acc1);
                const __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(acc));
                const __m512d high = _mm512_cvtps_pd(_mm512_extractf32x8_ps(acc, 1));
                double* d = mine + (i * a.kw + j) * 16;
                _mm512_storeu_pd(d, _mm512_add_pd(_mm512_loadu_pd(d), low));
                _mm512_storeu_pd(d + 8, _mm512_add_pd(_mm512_loadu_pd(d + 8), high));
            }
        }
    }
    for (int c = 0; c < xl.channels; ++c)
        for (int k = 0; k < K; ++k) {
            double t = 0;
            for (int th = 0; th < threads; ++th)
                t += sums[th * per_thread + ((c / 16) * K + k) * 16 + c % 16];
            dw[c * K + k] = float(t);
        }
}

// Any layout, one channel at a time (its sums in `sums`, C x K).
template <class T>
void scalar_loop(const nets::ConvAttrs& a, const Indexer& xi, const Indexer& yi, const memory& src,
                 const memory& diff_dst, float* dw, std::vector<double>& sums) {
    const auto xd = src.get_desc().dims(), yd = diff_dst.get_desc().dims();
    const std::int64_t N = xd[0], C = xd[1], H = xd[2], W = xd[3], OH = yd[2], OW = yd[3];
    const T* x = static_cast<const T*>(src.get_data_handle());
    const T* dy = static_cast<const T*>(diff_dst.get_data_handle());
    auto value = [](T v) {
        if constexpr (std::is_same_v<T, float>) return v;
        else return bf16_to_float(v);
    };
    const int K = a.kh * a.kw;
    std::fill(sums.begin(), sums.end(), 0.0);
#pragma omp parallel for schedule(static)
    for (std::int64_t ch = 0; ch < C; ++ch) {
        double* acc = &sums[std::size_t(ch) * K];
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t oh = 0; oh < OH; ++oh)
                for (std::int64_t ow = 0; ow < OW; ++ow) {
                    const float g = value(dy[yi(n, ch, oh, ow)]);
                    for (int i = 0; i < a.kh; ++i) {
                        const std::int64_t ih = oh * a.stride - a.pad_t + i;
                        if (ih < 0 || ih >= H) continue;
                        for (int j = 0; j < a.kw; ++j) {
                            const std::int64_t iw = ow * a.stride - a.pad_l + j;
                            if (iw >= 0 && iw < W) acc[i * a.kw + j] += g * value(x[xi(n, ch, ih, iw)]);
                        }
                    }
                }
        for (int k = 0; k < K; ++k) dw[ch * K + k] = float(acc[k]);
    }
}

using bf16_bits = std::uint16_t;

}  // namespace

DepthwiseWeightGrad::DepthwiseWeightGrad(const nets::ConvAttrs& a, const memory& src, const memory& diff_dst,
                                         const memory& grad)
    : a_(a), src_(src), diff_dst_(diff_dst), grad_(grad) {
    xl_ = channels_innermost_layout(src.get_desc());
    yl_ = channels_innermost_layout(diff_dst.get_desc());
    const std::size_t taps = std::size_t(a.kh) * a.kw;
    if (xl_ && yl_ && xl_->bf16 == yl_->bf16) {
        sums_.resize(std::size_t(omp_get_max_threads()) * xl_->blocks * taps * 16);
    } else {
        xl_.reset();
        xi_ = std::make_unique<Indexer>(src.get_desc());
        yi_ = std::make_unique<Indexer>(diff_dst.get_desc());
        sums_.resize(std::size_t(src.get_desc().dims()[1]) * taps);
    }
}

void DepthwiseWeightGrad::run() {
    float* dw = static_cast<float*>(grad_.get_data_handle());
    const bool bf16 = src_.get_desc().data_type() == memory::data_type::bf16;
    if (xl_) {
        const auto xd = src_.get_desc().dims(), yd = diff_dst_.get_desc().dims();
        const void *x = src_.get_data_handle(), *dy = diff_dst_.get_data_handle();
        if (bf16)
            vector_loop(a_, *xl_, *yl_, xd[2], xd[3], yd[2], yd[3], static_cast<const bf16_bits*>(x),
                        static_cast<const bf16_bits*>(dy), dw, sums_);
        else
            vector_loop(a_, *xl_, *yl_, xd[2], xd[3], yd[2], yd[3], static_cast<const float*>(x),
                        static_cast<const float*>(dy), dw, sums_);
    } else if (bf16) {
        scalar_loop<bf16_bits>(a_, *xi_, *yi_, src_, diff_dst_, dw, sums_);
    } else {
        scalar_loop<float>(a_, *xi_, *yi_, src_, diff_dst_, dw, sums_);
    }
}

}  // namespace deeper::runners::layers
