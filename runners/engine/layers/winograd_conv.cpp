#include "runners/engine/layers/winograd_conv.hpp"

#include <omp.h>

#include <algorithm>

#include "runners/engine/layers/avx512_lanes.hpp"
#include "runners/engine/layers/gemm_conv.hpp"

namespace deeper::runners::layers {

namespace {

using namespace dnnl;
using tag = memory::format_tag;
using i64 = std::int64_t;

// A chunk's largest buffer (the fp32 products, 16 x tiles x channels) stays within 1 Mi
// elements, 4 MiB: the transforms then read what the matmul just wrote from the cache.
constexpr i64 kMaxChunkElems = i64(1) << 20;

// The transforms are separable: a 1-D transform along the rows of the tile, then along its
// columns. Each works on vectors of 16 channels (AVX-512, in registers).
using avx512::block_lanes;
using avx512::load;
using avx512::store;

// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] (the input tile, 4 -> 4)
struct InputB {
    static constexpr int in = 4, out = 4;
    DEEPER_AVX512 static void apply(const __m512* x, int xs, __m512* y, int ys) {
        y[0] = _mm512_sub_ps(x[0], x[2 * xs]);
        y[ys] = _mm512_add_ps(x[xs], x[2 * xs]);
        y[2 * ys] = _mm512_sub_ps(x[2 * xs], x[xs]);
        y[3 * ys] = _mm512_sub_ps(x[xs], x[3 * xs]);
    }
};
// Its adjoint, B (4 -> 4)
struct InputBAdjoint {
    static constexpr int in = 4, out = 4;
    DEEPER_AVX512 static void apply(const __m512* x, int xs, __m512* y, int ys) {
        y[0] = x[0];
        y[ys] = _mm512_add_ps(_mm512_sub_ps(x[xs], x[2 * xs]), x[3 * xs]);
        y[2 * ys] = _mm512_sub_ps(_mm512_add_ps(x[xs], x[2 * xs]), x[0]);
        y[3 * ys] = _mm512_sub_ps(_mm512_setzero_ps(), x[3 * xs]);
    }
};
// A^T = [1 1 1 0; 0 1 -1 -1] (the products to the output tile, 4 -> 2)
struct OutputA {
    static constexpr int in = 4, out = 2;
    DEEPER_AVX512 static void apply(const __m512* x, int xs, __m512* y, int ys) {
        y[0] = _mm512_add_ps(_mm512_add_ps(x[0], x[xs]), x[2 * xs]);
        y[ys] = _mm512_sub_ps(_mm512_sub_ps(x[xs], x[2 * xs]), x[3 * xs]);
    }
};
// Its adjoint, A (2 -> 4)
struct OutputAAdjoint {
    static constexpr int in = 2, out = 4;
    DEEPER_AVX512 static void apply(const __m512* x, int xs, __m512* y, int ys) {
        y[0] = x[0];
        y[ys] = _mm512_add_ps(x[0], x[xs]);
        y[2 * ys] = _mm512_sub_ps(x[0], x[xs]);
        y[3 * ys] = _mm512_sub_ps(_mm512_setzero_ps(), x[xs]);
    }
};
// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (the kernel, 3 -> 4)
struct KernelG {
    static constexpr int in = 3, out = 4;
    DEEPER_AVX512 static void apply(const __m512* x, int xs, __m512* y, int ys) {
        const __m512 half = _mm512_set1_ps(0.5f), outer = _mm512_mul_ps(half, _mm512_add_ps(x[0], x[2 * xs])),
                     mid = _mm512_mul_ps(half, x[xs]);
        y[0] = x[0];
        y[ys] = _mm512_add_ps(outer, mid);
        y[2 * ys] = _mm512_sub_ps(outer, mid);
        y[3 * ys] = x[2 * xs];
    }
};
// Its adjoint, G^T (4 -> 3)
struct KernelGAdjoint {
    static constexpr int in = 4, out = 3;
    DEEPER_AVX512 static void apply(const __m512* x, int xs, __m512* y, int ys) {
        const __m512 half = _mm512_set1_ps(0.5f), sum = _mm512_mul_ps(half, _mm512_add_ps(x[xs], x[2 * xs]));
        y[0] = _mm512_add_ps(x[0], sum);
        y[ys] = _mm512_mul_ps(half, _mm512_sub_ps(x[xs], x[2 * xs]));
        y[2 * ys] = _mm512_add_ps(sum, x[3 * xs]);
    }
};

// y (T::out x T::out, row-major) = the 1-D transform along x's (T::in x T::in) rows, then
// along its columns.
template <class T>
DEEPER_AVX512 inline void transform_2d(const __m512* x, __m512* y) {
    __m512 t[T::out * T::in];
    for (int j = 0; j < T::in; ++j) T::apply(x + j, T::in, t + j, T::in);             // down each column
    for (int i = 0; i < T::out; ++i) T::apply(t + i * T::in, 1, y + i * T::out, 1);   // along each row
}

}  // namespace

// The tile geometry of one chunk: tile p = (image * tiles_h + ty) * tiles_w + tx has its
// 4x4 input window at row 2 ty - pad_t, column 2 tx - pad_l, and its 2x2 output at 2 ty, 2 tx.
struct Tiles {
    i64 H, W, OH, OW, tiles_h, tiles_w, pad_t, pad_l;
    i64 per_image() const { return tiles_h * tiles_w; }
};

namespace {

// Tile p decoded once (its loops then index with additions only).
struct Tile {
    i64 image, row, col;  // the output tile's first row and column
    Tile(const Tiles& g, i64 p)
        : image(p / g.per_image()), row(2 * (p % g.per_image() / g.tiles_w)), col(2 * (p % g.tiles_w)) {}
};

// The output tile's 4 pixels in `base` (K channels each), null past the map's edge.
template <class T>
void output_pixels(const Tiles& g, const Tile& tile, T* base, i64 K, T* (&out)[4]) {
    for (int r = 0; r < 2; ++r)
        for (int q = 0; q < 2; ++q) {
            const i64 oy = tile.row + r, ox = tile.col + q;
            out[2 * r + q] = oy < g.OH && ox < g.OW ? base + ((tile.image * g.OH + oy) * g.OW + ox) * K : nullptr;
        }
}

// The tile's 4x4 input window in `image` (one image, C channels a pixel), null in the padding.
template <class T>
void input_window(const Tiles& g, const Tile& tile, T* image, i64 C, T* (&window)[16]) {
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            const i64 ih = tile.row - g.pad_t + i, iw = tile.col - g.pad_l + j;
            const bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
            window[4 * i + j] = inside ? image + (ih * g.W + iw) * C : nullptr;
        }
}

// V[grid][p][c] = B^T d B of each tile's window, zero outside the map.
template <class T>
DEEPER_AVX512 void gather_tiles(const T* src, T* v, const Tiles& g, i64 images, i64 C) {
    const i64 P = images * g.per_image();
#pragma omp parallel for schedule(static)
    for (i64 p = 0; p < P; ++p) {
        const Tile tile(g, p);
        const T* window[16];
        input_window(g, tile, src + tile.image * g.H * g.W * C, C, window);
        for (i64 cb = 0; cb * 16 < C; ++cb) {
            const __mmask16 m = block_lanes(C, cb);
            __m512 d[16], t[16];
            for (int x = 0; x < 16; ++x) d[x] = window[x] ? load(window[x] + cb * 16, m) : _mm512_setzero_ps();
            transform_2d<InputB>(d, t);
            for (int x = 0; x < 16; ++x) store(v + (x * P + p) * C + cb * 16, t[x], m);
        }
    }
}

// dst = A^T M A (+ bias) of each tile, the parts past the map's edge dropped.
template <class T>
DEEPER_AVX512 void scatter_tiles(const float* mm, const float* bias, T* dst, const Tiles& g, i64 images, i64 K) {
    const i64 P = images * g.per_image();
#pragma omp parallel for schedule(static)
    for (i64 p = 0; p < P; ++p) {
        T* out[4];  // the output tile's pixels, null past the map's edge
        output_pixels(g, Tile(g, p), dst, K, out);
        for (i64 kb = 0; kb * 16 < K; ++kb) {
            const __mmask16 m = block_lanes(K, kb);
            __m512 x[16], y[4];
            for (int i = 0; i < 16; ++i) x[i] = load(mm + (i * P + p) * K + kb * 16, m);
            transform_2d<OutputA>(x, y);
            const __m512 b = bias ? load(bias + kb * 16, m) : _mm512_setzero_ps();
            for (int o = 0; o < 4; ++o)
                if (out[o]) store(out[o] + kb * 16, _mm512_add_ps(y[o], b), m);
        }
    }
}

// dM[grid][p][k] = A dy A^T of each tile's 2x2 output gradient, zero past the map's edge.
template <class T>
DEEPER_AVX512 void gather_output_grad(const T* dy, T* dm, const Tiles& g, i64 images, i64 K) {
    const i64 P = images * g.per_image();
#pragma omp parallel for schedule(static)
    for (i64 p = 0; p < P; ++p) {
        const T* out[4];
        output_pixels(g, Tile(g, p), dy, K, out);
        for (i64 kb = 0; kb * 16 < K; ++kb) {
            const __mmask16 m = block_lanes(K, kb);
            __m512 y[4], x[16];
            for (int o = 0; o < 4; ++o) y[o] = out[o] ? load(out[o] + kb * 16, m) : _mm512_setzero_ps();
            transform_2d<OutputAAdjoint>(y, x);
            for (int i = 0; i < 16; ++i) store(dm + (i * P + p) * K + kb * 16, x[i], m);
        }
    }
}

// diff src = the sum over the tiles whose windows hold a pixel of B dV B^T, in fp32 per image
// (`sums_all`: H x W x C floats per thread) and rounded once.
template <class T>
DEEPER_AVX512 void scatter_input_grad(const float* dv, T* dsrc, const Tiles& g, i64 images, i64 C, float* sums_all) {
    const i64 P = images * g.per_image(), pixels = g.H * g.W;
#pragma omp parallel
    {
        float* sums = sums_all + i64(omp_get_thread_num()) * pixels * C;
#pragma omp for schedule(static)
        for (i64 n = 0; n < images; ++n) {
            std::fill(sums, sums + pixels * C, 0.0f);
            for (i64 p = n * g.per_image(); p < (n + 1) * g.per_image(); ++p) {
                float* window[16];  // in the image's sums
                input_window(g, Tile(g, p), sums, C, window);
                for (i64 cb = 0; cb * 16 < C; ++cb) {
                    const __mmask16 m = block_lanes(C, cb);
                    __m512 x[16], d[16];
                    for (int i = 0; i < 16; ++i) x[i] = load(dv + (i * P + p) * C + cb * 16, m);
                    transform_2d<InputBAdjoint>(x, d);
                    for (int i = 0; i < 16; ++i)
                        if (window[i]) store(window[i] + cb * 16, _mm512_add_ps(load(window[i] + cb * 16, m), d[i]), m);
                }
            }
            T* image = dsrc + n * pixels * C;  // the sums are the image's pixels, contiguous
            for (i64 b = 0; b * 16 < pixels * C; ++b) {
                const __mmask16 m = block_lanes(pixels * C, b);
                store(image + b * 16, load(sums + b * 16, m), m);
            }
        }
    }
}

// U[grid][c][k] = G g G^T from the fp32 weights {kh, kw, in, out}.
template <class T>
DEEPER_AVX512 void transform_kernels(const float* hwio, T* u, i64 C, i64 K) {
#pragma omp parallel for schedule(static)
    for (i64 c = 0; c < C; ++c)
        for (i64 kb = 0; kb * 16 < K; ++kb) {
            const __mmask16 m = block_lanes(K, kb);
            __m512 g[9], x[16];
            for (int tap = 0; tap < 9; ++tap) g[tap] = load(hwio + (tap * C + c) * K + kb * 16, m);
            transform_2d<KernelG>(g, x);
            for (int i = 0; i < 16; ++i) store(u + (i * C + c) * K + kb * 16, x[i], m);
        }
}

// The fp32 gradient {kh, kw, in, out} = G^T dU G.
DEEPER_AVX512 void transform_kernel_grads(const float* du, float* hwio, i64 C, i64 K) {
#pragma omp parallel for schedule(static)
    for (i64 c = 0; c < C; ++c)
        for (i64 kb = 0; kb * 16 < K; ++kb) {
            const __mmask16 m = block_lanes(K, kb);
            __m512 x[16], g[9];
            for (int i = 0; i < 16; ++i) x[i] = load(du + (i * C + c) * K + kb * 16, m);
            transform_2d<KernelGAdjoint>(x, g);
            for (int tap = 0; tap < 9; ++tap) store(hwio + (tap * C + c) * K + kb * 16, g[tap], m);
        }
}

memory::desc grid(memory::dim rows, memory::dim cols, memory::data_type dt, tag t = tag::abc) {
    return memory::desc({16, rows, cols}, dt, t);
}

}  // namespace

bool WinogradConv::applies(const nets::ConvAttrs& a, memory::data_type dt) {
    return a.kh == 3 && a.kw == 3 && a.stride == 1 && a.groups == 1 && channels_innermost_kernels_run_here(dt);
}

WinogradConv::WinogradConv(const nets::ConvAttrs& a, int out_h, int out_w)
    : a_(a), oh_(out_h), ow_(out_w), tiles_h_((out_h + 1) / 2), tiles_w_((out_w + 1) / 2) {}

memory::desc WinogradConv::define(LayerContext& c, const memory::dims& in_dims, memory::data_type dt, int weight,
                                  int bias, bool train_weights) {
    n_ = int(in_dims[0]), c_ = int(in_dims[1]), h_ = int(in_dims[2]), w_ = int(in_dims[3]);
    dt_ = dt, weight_ = weight, bias_ = bias, train_weights_ = train_weights;
    const memory::dim C = c_, K = a_.out_channels;
    chunk_images_ = gemm_chunk_images(n_, kGrid * tiles_per_image(), std::max(C, K), kMaxChunkElems);
    chunks_ = n_ / chunk_images_;
    const memory::dim P = tiles();
    const auto f32 = memory::data_type::f32;

    // M[grid] = V[grid] x U[grid]: tiles x in channels by in x out channels, in fp32.
    fwd_pd_ = matmul::primitive_desc(matmul::desc(grid(P, C, dt), grid(C, K, dt), grid(P, K, f32)), c.attr(), c.eng());
    c.scratchpad(fwd_pd_.scratchpad_desc());
    fwd_v_buf_ = c.buffer(grid(P, C, dt), LayerContext::Life::fwd);
    m_buf_ = c.buffer(grid(P, K, f32), LayerContext::Life::fwd);
    const memory::desc dst = memory::desc({n_, K, oh_, ow_}, dt, tag::nhwc);
    if (!c.training()) return dst;

    input_grad_ = c.input_needs_grad(0);
    if (train_weights_ || input_grad_) dm_buf_ = c.buffer(grid(P, K, dt), LayerContext::Life::bwd);
    if (train_weights_) {
        // dU[grid] = V[grid]^T x dM[grid], the transformed inputs read transposed in place
        // (tag acb), summed over the chunks in fp32 by the second primitive's sum post-op.
        const matmul::desc d(grid(C, P, dt, tag::acb), grid(P, K, dt), grid(C, K, f32));
        bwd_w_first_pd_ = matmul::primitive_desc(d, c.attr(), c.eng());
        bwd_w_sum_pd_ = matmul::primitive_desc(d, with_sum(c.attr()), c.eng());
        c.scratchpad(bwd_w_first_pd_.scratchpad_desc());
        c.scratchpad(bwd_w_sum_pd_.scratchpad_desc());
        bwd_v_buf_ = c.buffer(grid(P, C, dt), LayerContext::Life::bwd);
        du_buf_ = c.buffer(grid(C, K, f32), LayerContext::Life::bwd);  // 16 MiB at 512 x 512 channels
        if (bias >= 0) {
            bias_pd_ = reduction::primitive_desc(
                reduction::desc(algorithm::reduction_sum,
                                memory::desc({memory::dim(n_) * oh_ * ow_, K}, dt, tag::ab),
                                memory::desc({1, K}, f32, tag::ab), 0.0f, 0.0f),
                c.attr(), c.eng());
            c.scratchpad(bias_pd_.scratchpad_desc());
        }
    }
    if (input_grad_) {
        // dV[grid] = dM[grid] x U[grid]^T (U read transposed in place), in fp32.
        bwd_d_pd_ = matmul::primitive_desc(matmul::desc(grid(P, K, dt), grid(K, C, dt, tag::acb), grid(P, C, f32)),
                                           c.attr(), c.eng());
        c.scratchpad(bwd_d_pd_.scratchpad_desc());
        dv_buf_ = c.buffer(grid(P, C, f32), LayerContext::Life::bwd);
        c.set_diff_src_desc(0, src_desc(in_dims, dt));
    }
    return dst;
}

void WinogradConv::bind(LayerContext& c, const memory& src) {
    const memory::dim C = c_, K = a_.out_channels, P = tiles();
    const memory::dims w_dims = {K, C, 3, 3};
    const auto f32 = memory::data_type::f32;
    const dnnl::engine& eng = c.eng();
    src_ = src.get_data_handle();
    dst_ = c.output().get_data_handle();
    master_ = c.weights(weight_, master_desc(w_dims));
    if (bias_ >= 0) bias_values_ = static_cast<const float*>(c.param_memory(bias_).get_data_handle());
    u_ = memory(grid(C, K, dt_), eng);

    const memory fwd_v = c.buffer_memory(fwd_v_buf_, grid(P, C, dt_)), m = c.buffer_memory(m_buf_, grid(P, K, f32));
    fwd_v_ = fwd_v.get_data_handle();
    m_ = static_cast<float*>(m.get_data_handle());
    fwd_ = matmul(fwd_pd_);
    fwd_args_ = {{DNNL_ARG_SRC, fwd_v}, {DNNL_ARG_WEIGHTS, u_}, {DNNL_ARG_DST, m},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (!c.training()) return;

    memory dm;
    if (dm_buf_ >= 0) {
        dy_ = c.diff_dst().get_data_handle();
        dm = c.buffer_memory(dm_buf_, grid(P, K, dt_));
        dm_ = dm.get_data_handle();
    }
    if (train_weights_) {
        bwd_v_ = c.buffer_memory(bwd_v_buf_, grid(P, C, dt_)).get_data_handle();
        const memory bwd_v_transposed(grid(C, P, dt_, tag::acb), eng, bwd_v_);
        grad_ = c.grad_memory(weight_, master_desc(w_dims));
        du_ = c.buffer_memory(du_buf_, grid(C, K, f32));
        bwd_w_first_ = matmul(bwd_w_first_pd_);
        bwd_w_sum_ = matmul(bwd_w_sum_pd_);
        bwd_w_args_ = {{DNNL_ARG_SRC, bwd_v_transposed}, {DNNL_ARG_WEIGHTS, dm}, {DNNL_ARG_DST, du_},
                       {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
        if (bias_ >= 0) {
            bias_grad_ = reduction(bias_pd_);
            const memory db = c.grad_memory(bias_, memory::desc({K}, f32, tag::a));
            bias_args_ = {{DNNL_ARG_SRC, memory(bias_pd_.src_desc(), eng, dy_)},
                          {DNNL_ARG_DST, memory(memory::desc({1, K}, f32, tag::ab), eng, db.get_data_handle())},
                          {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
        }
    }
    if (input_grad_) {
        diff_src_ = c.diff_src(0).get_data_handle();
        const memory dv = c.buffer_memory(dv_buf_, grid(P, C, f32));
        dv_ = static_cast<float*>(dv.get_data_handle());
        bwd_d_ = matmul(bwd_d_pd_);
        bwd_d_args_ = {{DNNL_ARG_SRC, dm}, {DNNL_ARG_WEIGHTS, memory(grid(K, C, dt_, tag::acb), eng, u_.get_data_handle())},
                       {DNNL_ARG_DST, dv}, {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
        image_sums_.assign(std::size_t(omp_get_max_threads()) * h_ * w_ * c_, 0.0f);  // per thread
    }
}

namespace {

template <class T>
T* at(void* base, i64 elems) {
    return static_cast<T*>(base) + elems;
}

// Runs `f` with the element type of `dt`: std::uint16_t for bf16's bits, else float.
template <class F>
void with_type(memory::data_type dt, F&& f) {
    if (dt == memory::data_type::bf16) f(std::uint16_t{});
    else f(float{});
}

}  // namespace

Tiles WinogradConv::geometry() const { return {h_, w_, oh_, ow_, tiles_h_, tiles_w_, a_.pad_t, a_.pad_l}; }

void WinogradConv::transform_input(int chunk, void* v) {
    with_type(dt_, [&](auto t) {
        using T = decltype(t);
        gather_tiles(at<T>(src_, first_image(chunk) * h_ * w_ * c_), static_cast<T*>(v), geometry(), chunk_images_, c_);
    });
}

void WinogradConv::transform_output(int chunk) {
    with_type(dt_, [&](auto t) {
        using T = decltype(t);
        scatter_tiles(m_, bias_values_, at<T>(dst_, first_image(chunk) * oh_ * ow_ * a_.out_channels), geometry(),
                      chunk_images_, a_.out_channels);
    });
}

void WinogradConv::transform_output_grad(int chunk) {
    with_type(dt_, [&](auto t) {
        using T = decltype(t);
        gather_output_grad(at<T>(dy_, first_image(chunk) * oh_ * ow_ * a_.out_channels), static_cast<T*>(dm_),
                           geometry(), chunk_images_, a_.out_channels);
    });
}

void WinogradConv::transform_input_grad(int chunk) {
    with_type(dt_, [&](auto t) {
        using T = decltype(t);
        scatter_input_grad(dv_, at<T>(diff_src_, first_image(chunk) * h_ * w_ * c_), geometry(), chunk_images_, c_,
                           image_sums_.data());
    });
}

void WinogradConv::transform_weights() {
    with_type(dt_, [&](auto t) {
        using T = decltype(t);
        transform_kernels(static_cast<const float*>(master_.get_data_handle()), static_cast<T*>(u_.get_data_handle()),
                          c_, a_.out_channels);
    });
}

void WinogradConv::transform_weight_grad() {
    transform_kernel_grads(static_cast<const float*>(du_.get_data_handle()), static_cast<float*>(grad_.get_data_handle()),
                           c_, a_.out_channels);
}

void WinogradConv::forward(LayerContext& c) {
    if (weight_version_ != c.store().version()) {  // transform again after the weights changed
        weight_version_ = c.store().version();
        transform_weights();
    }
    for (int k = 0; k < chunks_; ++k) {
        transform_input(k, fwd_v_);
        fwd_.execute(c.stream(), fwd_args_);
        transform_output(k);
    }
}

void WinogradConv::backward(LayerContext& c) {
    for (int k = 0; k < chunks_; ++k) {
        transform_output_grad(k);
        if (train_weights_) {
            transform_input(k, bwd_v_);
            (k == 0 ? bwd_w_first_ : bwd_w_sum_).execute(c.stream(), bwd_w_args_);
        }
        if (input_grad_) {
            bwd_d_.execute(c.stream(), bwd_d_args_);
            transform_input_grad(k);
        }
    }
    if (train_weights_) {
        transform_weight_grad();
        if (bias_ >= 0) bias_grad_.execute(c.stream(), bias_args_);
        c.finish_grads();
        c.count_backward_primitive();
    }
    if (input_grad_) c.count_backward_primitive();
}

}  // namespace deeper::runners::layers
