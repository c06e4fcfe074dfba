#include "runners/engine/layers/bn_kernels.hpp"

#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "runners/engine/layers/avx512_lanes.hpp"

namespace deeper::runners::layers {

namespace {

using dnnl::memory;
using namespace avx512;

// Pixels per piece of work: an image's piece of a 64-channel bf16 NHWC map is 32 KiB, so
// the passes over its channel blocks find it in cache.
constexpr std::int64_t chunk_pixels = 256;
// How far ahead the statistics pass asks for its input.
constexpr std::int64_t prefetch_pixels = 64;

// e^t for t <= 88 (above it overflows): t = n ln2 + r with |r| <= ln2 / 2, e^r by its Taylor
// series to r^6 (relative error < 2e-7: about an ulp), times 2^n.
DEEPER_AVX512 inline __m512 exp_ps(__m512 t) {
    t = _mm512_max_ps(t, _mm512_set1_ps(-100.f));  // e^t rounds to 0 long before: keeps n small
    const __m512 n =
        _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), t);  // ln2's high bits: n * it is exact
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.4286068203094172e-6f), r);     // and the rest of ln2
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.f / 720), r, _mm512_set1_ps(1.f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
    return _mm512_scalef_ps(p, n);
}

// 1 / (1 + e^-z): the reciprocal to 14 bits, then a Newton step. e^-z is kept below e^80 so
// the reciprocal stays a normal float (below z = -80 the sigmoid is ~1e-35 either way).
DEEPER_AVX512 inline __m512 sigmoid_ps(__m512 z) {
    const __m512 d = _mm512_add_ps(_mm512_set1_ps(1.f), exp_ps(_mm512_min_ps(_mm512_sub_ps(_mm512_setzero_ps(), z),
                                                                               _mm512_set1_ps(80.f))));
    const __m512 r = _mm512_rcp14_ps(d);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.f)));
}

template <BnActivation A>
DEEPER_AVX512 inline __m512 activate(__m512 z) {
    if constexpr (A == BnActivation::relu) return _mm512_max_ps(z, _mm512_setzero_ps());
    else if constexpr (A == BnActivation::relu6)
        return _mm512_min_ps(_mm512_max_ps(z, _mm512_setzero_ps()), _mm512_set1_ps(6.f));
    else if constexpr (A == BnActivation::swish) return _mm512_mul_ps(z, sigmoid_ps(z));
    else return z;
}

// g = dy * act'(z) with z = xc * scale + shift (xc = x - mean), computed as the forward did.
// ReLU and ReLU6 pass dy where the output is strictly inside their linear part, as oneDNN's do.
template <BnActivation A>
DEEPER_AVX512 inline __m512 activation_gradient(__m512 dy, __m512 xc, __m512 scale, __m512 shift) {
    if constexpr (A == BnActivation::none) {
        return dy;
    } else {
        const __m512 z = _mm512_fmadd_ps(xc, scale, shift);
        const __mmask16 positive = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_GT_OQ);
        if constexpr (A == BnActivation::relu) {
            return _mm512_maskz_mov_ps(positive, dy);
        } else if constexpr (A == BnActivation::relu6) {
            return _mm512_maskz_mov_ps(positive & _mm512_cmp_ps_mask(z, _mm512_set1_ps(6.f), _CMP_LT_OQ), dy);
        } else {  // swish' = s + z s (1 - s) = s (1 + z (1 - s))
            const __m512 s = sigmoid_ps(z), one = _mm512_set1_ps(1.f);
            return _mm512_mul_ps(dy, _mm512_mul_ps(s, _mm512_fmadd_ps(z, _mm512_sub_ps(one, s), one)));
        }
    }
}

// Calls f(std::integral_constant<BnActivation, act>): one instance of a kernel per activation.
template <class F>
void with_activation(BnActivation act, F&& f) {
    switch (act) {
        case BnActivation::none: return f(std::integral_constant<BnActivation, BnActivation::none>{});
        case BnActivation::relu: return f(std::integral_constant<BnActivation, BnActivation::relu>{});
        case BnActivation::relu6: return f(std::integral_constant<BnActivation, BnActivation::relu6>{});
        case BnActivation::swish: return f(std::integral_constant<BnActivation, BnActivation::swish>{});
    }
}

// Runs f(n, first pixel, end pixel) over every image's chunks, in parallel.
template <class F>
void for_chunks(const ChannelsInnermost& l, F&& f) {
    const std::int64_t chunks = (l.pixels + chunk_pixels - 1) / chunk_pixels;
#pragma omp parallel for schedule(static)
    for (std::int64_t w = 0; w < l.images * chunks; ++w) {
        const std::int64_t n = w / chunks, first = (w % chunks) * chunk_pixels;
        f(n, first, std::min(first + chunk_pixels, l.pixels));
    }
}

std::size_t sums_size(const ChannelsInnermost& l) { return std::size_t(omp_get_max_threads()) * l.blocks * 32; }

// Per-thread double sums of two per-channel quantities (in the scratch's memory, zeroed: it
// grows only when the caller has more threads than when it was made), added up at the end.
class ChannelSums {
public:
    ChannelSums(const ChannelsInnermost& l, std::vector<double>& memory) : blocks_(l.blocks), sums_(memory) {
        sums_.assign(sums_size(l), 0.0);
    }
    DEEPER_AVX512 void add(std::int64_t cb, __m512 a, __m512 b) {
        double* s = &sums_[(std::size_t(omp_get_thread_num()) * blocks_ + cb) * 32];
        add8(s, _mm512_castps512_ps256(a));
        add8(s + 8, _mm512_extractf32x8_ps(a, 1));
        add8(s + 16, _mm512_castps512_ps256(b));
        add8(s + 24, _mm512_extractf32x8_ps(b, 1));
    }
    double first(int c) const { return total(c, 0); }
    double second(int c) const { return total(c, 16); }

private:
    DEEPER_AVX512 static void add8(double* p, __m256 v) {
        _mm512_storeu_pd(p, _mm512_add_pd(_mm512_loadu_pd(p), _mm512_cvtps_pd(v)));
    }
    double total(int c, int half) const {
        double t = 0;
        for (std::size_t th = 0; th * blocks_ * 32 < sums_.size(); ++th)
            t += sums_[(th * blocks_ + c / 16) * 32 + half + c % 16];
        return t;
    }
    std::int64_t blocks_;
    std::vector<double>& sums_;
};

template <class T>
DEEPER_AVX512 void statistics(const ChannelsInnermost& l, BnScratch& scratch, const T* x, float* mean,
                              float* variance) {
    // Shifting each channel by one of its values keeps the sum of squares from cancelling
    // when the mean is large against the spread.
    std::vector<float>& pivot = scratch.pivot;
    for (std::int64_t cb = 0; cb < l.blocks; ++cb)
        _mm512_storeu_ps(&pivot[cb * 16], load(x + cb * l.block, live_lanes(l, cb)));
    ChannelSums sums(l, scratch.sums);
    for_chunks(l, [&](std::int64_t n, std::int64_t first, std::int64_t end) DEEPER_AVX512 {
        for (std::int64_t cb = 0; cb < l.blocks; ++cb) {
            const __mmask16 m = live_lanes(l, cb);
            const __m512 k = _mm512_loadu_ps(&pivot[cb * 16]);
            const T* p = x + n * l.image + cb * l.block;
            __m512 s0 = _mm512_setzero_ps(), s1 = s0, q0 = s0, q1 = s0;
            std::int64_t s = first;
            for (; s + 2 <= end; s += 2) {  // two chains hide the add latency
                // The conv before leaves x out of cache: asked for ahead, the pass that reads
                // it first streams faster (the passes after find it in cache, in part).
                _mm_prefetch(reinterpret_cast<const char*>(p + (s + prefetch_pixels) * l.pixel), _MM_HINT_T0);
                _mm_prefetch(reinterpret_cast<const char*>(p + (s + prefetch_pixels + 1) * l.pixel), _MM_HINT_T0);
                const __m512 d0 = _mm512_sub_ps(load(p + s * l.pixel, m), k);
                const __m512 d1 = _mm512_sub_ps(load(p + (s + 1) * l.pixel, m), k);
                s0 = _mm512_add_ps(s0, d0);
                s1 = _mm512_add_ps(s1, d1);
                q0 = _mm512_fmadd_ps(d0, d0, q0);
                q1 = _mm512_fmadd_ps(d1, d1, q1);
            }
            if (s < end) {
                const __m512 d0 = _mm512_sub_ps(load(p + s * l.pixel, m), k);
                s0 = _mm512_add_ps(s0, d0);
                q0 = _mm512_fmadd_ps(d0, d0, q0);
            }
            sums.add(cb, _mm512_maskz_mov_ps(m, _mm512_add_ps(s0, s1)), _mm512_maskz_mov_ps(m, _mm512_add_ps(q0, q1)));
        }
    });
    const double count = double(l.images) * double(l.pixels);
    for (int c = 0; c < l.channels; ++c) {
        const double d = sums.first(c) / count;
        mean[c] = float(pivot[c] + d);
        variance[c] = float(std::max(0.0, sums.second(c) / count - d * d));
    }
}

template <BnActivation A, bool Residual, class T>
DEEPER_AVX512 void apply(const ChannelsInnermost& l, const T* x, const T* r, T* y, const float* mean,
                         const float* scale, const float* shift) {
    for_chunks(l, [&](std::int64_t n, std::int64_t first, std::int64_t end) DEEPER_AVX512 {
        for (std::int64_t cb = 0; cb < l.blocks; ++cb) {
            const __mmask16 m = live_lanes(l, cb), out = store_lanes(l, cb);
            const __m512 mu = _mm512_maskz_loadu_ps(m, mean + cb * 16);
            const __m512 a = _mm512_maskz_loadu_ps(m, scale + cb * 16), b = _mm512_maskz_loadu_ps(m, shift + cb * 16);
            // locals: not reloaded from l after every store
            const std::int64_t o = n * l.image + cb * l.block, pixel = l.pixel;
            const T* xs = x + o;
            T* ys = y + o;
            for (std::int64_t s = first; s < end; ++s) {
                __m512 z = _mm512_fmadd_ps(_mm512_sub_ps(load(xs + s * pixel, m), mu), a, b);
                if constexpr (Residual) z = _mm512_add_ps(z, load(r + o + s * pixel, m));
                store(ys + s * pixel, activate<A>(z), out);
            }
        }
    });
}

template <BnActivation A, class T>
DEEPER_AVX512 void backward_sums(const ChannelsInnermost& l, BnScratch& scratch, const T* x, const T* dy,
                                 const float* mean, const float* scale, const float* shift, float* sum_g,
                                 float* sum_g_xc) {
    ChannelSums sums(l, scratch.sums);
    for_chunks(l, [&](std::int64_t n, std::int64_t first, std::int64_t end) DEEPER_AVX512 {
        for (std::int64_t cb = 0; cb < l.blocks; ++cb) {
            const __mmask16 m = live_lanes(l, cb);
            const __m512 mu = _mm512_maskz_loadu_ps(m, mean + cb * 16);
            const __m512 a = _mm512_maskz_loadu_ps(m, scale + cb * 16), b = _mm512_maskz_loadu_ps(m, shift + cb * 16);
            const std::int64_t o = n * l.image + cb * l.block, pixel = l.pixel;
            const T *xs = x + o, *dys = dy + o;
            __m512 g_sum = _mm512_setzero_ps(), gx_sum = g_sum;
            for (std::int64_t s = first; s < end; ++s) {
                const __m512 xc = _mm512_sub_ps(load(xs + s * pixel, m), mu);
                const __m512 g = activation_gradient<A>(load(dys + s * pixel, m), xc, a, b);
                g_sum = _mm512_add_ps(g_sum, g);
                gx_sum = _mm512_fmadd_ps(g, xc, gx_sum);
            }
            sums.add(cb, g_sum, gx_sum);
        }
    });
    for (int c = 0; c < l.channels; ++c) {
        sum_g[c] = float(sums.first(c));
        sum_g_xc[c] = float(sums.second(c));
    }
}

template <BnActivation A, class T>
DEEPER_AVX512 void backward_data(const ChannelsInnermost& l, const T* x, const T* dy, T* dx, const float* mean,
                                 const float* scale, const float* shift, const float* c1, const float* c0) {
    for_chunks(l, [&](std::int64_t n, std::int64_t first, std::int64_t end) DEEPER_AVX512 {
        for (std::int64_t cb = 0; cb < l.blocks; ++cb) {
            const __mmask16 m = live_lanes(l, cb), out = store_lanes(l, cb);
            const __m512 mu = _mm512_maskz_loadu_ps(m, mean + cb * 16);
            const __m512 a = _mm512_maskz_loadu_ps(m, scale + cb * 16), b = _mm512_maskz_loadu_ps(m, shift + cb * 16);
            const __m512 k1 = _mm512_maskz_loadu_ps(m, c1 + cb * 16), k0 = _mm512_maskz_loadu_ps(m, c0 + cb * 16);
            const std::int64_t o = n * l.image + cb * l.block, pixel = l.pixel;
            const T *xs = x + o, *dys = dy + o;
            T* dxs = dx + o;
            for (std::int64_t s = first; s < end; ++s) {
                const __m512 xc = _mm512_sub_ps(load(xs + s * pixel, m), mu);
                const __m512 g = activation_gradient<A>(load(dys + s * pixel, m), xc, a, b);
                store(dxs + s * pixel, _mm512_fmadd_ps(g, a, _mm512_fmadd_ps(xc, k1, k0)), out);
            }
        }
    });
}

using bf16_bits = std::uint16_t;

}  // namespace

BnScratch::BnScratch(const ChannelsInnermost& l) : sums(sums_size(l)), pivot(std::size_t(l.blocks) * 16) {}

void bn_statistics(const ChannelsInnermost& l, BnScratch& scratch, const void* x, float* mean, float* variance) {
    if (l.bf16) statistics(l, scratch, static_cast<const bf16_bits*>(x), mean, variance);
    else statistics(l, scratch, static_cast<const float*>(x), mean, variance);
}

void bn_apply(const ChannelsInnermost& l, const void* x, const void* residual, void* y, const float* mean,
              const float* scale, const float* shift, BnActivation act) {
    auto run = [&](auto a, auto with_residual, auto type) {
        constexpr BnActivation A = decltype(a)::value;
        using T = typename decltype(type)::type;
        apply<A, decltype(with_residual)::value>(l, static_cast<const T*>(x), static_cast<const T*>(residual),
                                                 static_cast<T*>(y), mean, scale, shift);
    };
    with_activation(act, [&](auto a) {
        if (l.bf16) {
            if (residual) run(a, std::true_type{}, std::type_identity<bf16_bits>{});
            else run(a, std::false_type{}, std::type_identity<bf16_bits>{});
        } else {
            if (residual) run(a, std::true_type{}, std::type_identity<float>{});
            else run(a, std::false_type{}, std::type_identity<float>{});
        }
    });
}

void bn_backward_sums(const ChannelsInnermost& l, BnScratch& scratch, const void* x, const void* dy, const float* mean,
                      const float* scale, const float* shift, BnActivation act, float* sum_g, float* sum_g_xc) {
    with_activation(act, [&](auto a) {
        constexpr BnActivation A = decltype(a)::value;
        if (l.bf16)
            backward_sums<A>(l, scratch, static_cast<const bf16_bits*>(x), static_cast<const bf16_bits*>(dy), mean,
                             scale, shift, sum_g, sum_g_xc);
        else
            backward_sums<A>(l, scratch, static_cast<const float*>(x), static_cast<const float*>(dy), mean, scale,
                             shift, sum_g, sum_g_xc);
    });
}

void bn_backward_data(const ChannelsInnermost& l, const void* x, const void* dy, void* dx, const float* mean,
                      const float* scale, const float* shift, const float* c1, const float* c0, BnActivation act) {
    with_activation(act, [&](auto a) {
        constexpr BnActivation A = decltype(a)::value;
        if (l.bf16)
            backward_data<A>(l, static_cast<const bf16_bits*>(x), static_cast<const bf16_bits*>(dy),
                             static_cast<bf16_bits*>(dx), mean, scale, shift, c1, c0);
        else
            backward_data<A>(l, static_cast<const float*>(x), static_cast<const float*>(dy), static_cast<float*>(dx),
                             mean, scale, shift, c1, c0);
    });
}

}  // namespace deeper::runners::layers
