#include "runners/engine/layers/gemm_conv.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "runners/engine/precision.hpp"

namespace deeper::runners::layers {

namespace {

using namespace dnnl;
using tag = memory::format_tag;

// A chunk's columns stay within 4 Mi elements (8 MiB in bf16; 16 MiB for the fp32 input
// gradient's columns): large enough for the matmul to run at full speed (measured on AMX:
// 2,048 x 4,608 x 512 at 2-5 TFLOP/s), small enough to be planned beside the activations.
constexpr std::int64_t kMaxColumnElems = std::int64_t(1) << 22;

struct Geometry {
    std::int64_t H, W, C, OH, OW, KH, KW, stride, pad_t, pad_l;
    std::int64_t columns() const { return KH * KW * C; }
};

// col[(n, oh, ow)][(kh, kw, c)] = src[n][oh*s - pt + kh][ow*s - pl + kw][c], zero in the padding.
template <class T>
void gather_columns(const T* src, T* col, const Geometry& g, std::int64_t images) {
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < images; ++n)
        for (std::int64_t oh = 0; oh < g.OH; ++oh)
            for (std::int64_t ow = 0; ow < g.OW; ++ow) {
                T* out = col + ((n * g.OH + oh) * g.OW + ow) * g.columns();
                for (std::int64_t kh = 0; kh < g.KH; ++kh) {
                    const std::int64_t ih = oh * g.stride - g.pad_t + kh;
                    for (std::int64_t kw = 0; kw < g.KW; ++kw, out += g.C) {
                        const std::int64_t iw = ow * g.stride - g.pad_l + kw;
                        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) std::memset(out, 0, g.C * sizeof(T));
                        else std::memcpy(out, src + ((n * g.H + ih) * g.W + iw) * g.C, g.C * sizeof(T));
                    }
                }
            }
}

// The pixel loops' vector kernels, cloned for AVX-512 (the build targets baseline x86-64).
__attribute__((target_clones("avx512f", "default"))) void accumulate(float* acc, const float* in, std::int64_t n) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) acc[i] += in[i];
}

__attribute__((target_clones("avx512f", "default"))) void store(const float* in, std::uint16_t* out, std::int64_t n) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) out[i] = float_to_bf16(in[i]);
}

void store(const float* in, float* out, std::int64_t n) { std::copy_n(in, n, out); }

// The adjoint of gather_columns: dsrc[n][ih][iw][c] = sum of the column entries that read
// that pixel, summed in fp32 (in `acc_all`: C floats per thread) and rounded once.
template <class T>
void scatter_columns(const float* dcol, T* dsrc, const Geometry& g, std::int64_t images, float* acc_all) {
#pragma omp parallel
    {
        float* acc = acc_all + std::int64_t(omp_get_thread_num()) * g.C;
#pragma omp for collapse(2) schedule(static)
        for (std::int64_t n = 0; n < images; ++n)
            for (std::int64_t ih = 0; ih < g.H; ++ih)
                for (std::int64_t iw = 0; iw < g.W; ++iw) {
                    std::fill(acc, acc + g.C, 0.0f);
                    for (std::int64_t kh = 0; kh < g.KH; ++kh) {
                        const std::int64_t y = ih + g.pad_t - kh;  // = oh * stride
                        if (y < 0 || y % g.stride != 0 || y / g.stride >= g.OH) continue;
                        for (std::int64_t kw = 0; kw < g.KW; ++kw) {
                            const std::int64_t x = iw + g.pad_l - kw;
                            if (x < 0 || x % g.stride != 0 || x / g.stride >= g.OW) continue;
                            const float* in = dcol + ((n * g.OH + y / g.stride) * g.OW + x / g.stride) * g.columns() +
                                              (kh * g.KW + kw) * g.C;
                            accumulate(acc, in, g.C);
                        }
                    }
                    store(acc, dsrc + ((n * g.H + ih) * g.W + iw) * g.C, g.C);
                }
    }
}

std::size_t elem_size(memory::data_type dt) { return dt == memory::data_type::bf16 ? 2 : 4; }

void* offset(void* base, std::int64_t elems, memory::data_type dt) {
    return static_cast<char*>(base) + elems * std::int64_t(elem_size(dt));
}

memory::desc matrix(memory::dim rows, memory::dim cols, memory::data_type dt, tag t = tag::ab) {
    return memory::desc({rows, cols}, dt, t);
}

}  // namespace

int gemm_chunk_images(int batch, std::int64_t rows_per_image, std::int64_t columns, std::int64_t max_elems) {
    int best = 1;
    for (int d = 1; d <= batch; ++d)
        if (batch % d == 0 && d * rows_per_image * columns <= max_elems) best = d;
    return best;
}

bool GemmConv::one_by_one() const {
    return a_.kh == 1 && a_.kw == 1 && a_.stride == 1 && a_.pad_t == 0 && a_.pad_l == 0 && a_.pad_b == 0 &&
           a_.pad_r == 0;
}

memory::desc GemmConv::define(LayerContext& c, const memory::dims& in_dims, memory::data_type dt, int weight,
                              int bias, bool train_weights) {
    n_ = int(in_dims[0]), c_ = int(in_dims[1]), h_ = int(in_dims[2]), w_ = int(in_dims[3]);
    dt_ = dt, weight_ = weight, bias_ = bias, train_weights_ = train_weights;
    cols_ = std::int64_t(a_.kh) * a_.kw * c_;
    chunk_images_ = gemm_chunk_images(n_, std::int64_t(oh_) * ow_, cols_, kMaxColumnElems);
    chunks_ = n_ / chunk_images_;
    const memory::dim M = rows(), K = cols_, OC = a_.out_channels;
    const auto f32 = memory::data_type::f32;

    fwd_pd_ = bias >= 0 ? matmul::primitive_desc(
                              matmul::desc(matrix(M, K, dt), matrix(K, OC, dt, tag::any), matrix(1, OC, f32),
                                           matrix(M, OC, dt)),
                              c.attr(), c.eng())
                        : matmul::primitive_desc(
                              matmul::desc(matrix(M, K, dt), matrix(K, OC, dt, tag::any), matrix(M, OC, dt)),
                              c.attr(), c.eng());
    c.scratchpad(fwd_pd_.scratchpad_desc());
    if (!one_by_one()) fwd_col_buf_ = c.buffer(matrix(M, K, dt), LayerContext::Life::fwd);
    const memory::desc dst = memory::desc({n_, OC, oh_, ow_}, dt, tag::nhwc);
    if (!c.training()) return dst;

    if (train_weights_) {
        // dW[K x OC] = columns^T x dy, the transposed columns read in place (tag ba), summed
        // over the chunks in fp32 by the second primitive's sum post-op.
        const matmul::desc d(matrix(K, M, dt, tag::ba), matrix(M, OC, dt), matrix(K, OC, f32));
        bwd_w_first_pd_ = matmul::primitive_desc(d, c.attr(), c.eng());
        bwd_w_sum_pd_ = matmul::primitive_desc(d, with_sum(c.attr()), c.eng());
        c.scratchpad(bwd_w_first_pd_.scratchpad_desc());
        c.scratchpad(bwd_w_sum_pd_.scratchpad_desc());
        if (!one_by_one()) bwd_col_buf_ = c.buffer(matrix(M, K, dt), LayerContext::Life::bwd);
        if (bias >= 0) {
            bias_pd_ = reduction::primitive_desc(
                reduction::desc(algorithm::reduction_sum, matrix(memory::dim(n_) * oh_ * ow_, OC, dt),
                                matrix(1, OC, f32), 0.0f, 0.0f),
                c.attr(), c.eng());
            c.scratchpad(bias_pd_.scratchpad_desc());
        }
    }
    input_grad_ = c.input_needs_grad(0);
    if (input_grad_) {
        // dcolumns = dy x W^T in fp32, then summed back onto the pixels they came from; a 1x1
        // conv's product is the input gradient itself.
        const memory::desc out = one_by_one() ? matrix(M, K, dt) : matrix(M, K, f32);
        bwd_d_pd_ = matmul::primitive_desc(matmul::desc(matrix(M, OC, dt), matrix(OC, K, dt), out), c.attr(), c.eng());
        c.scratchpad(bwd_d_pd_.scratchpad_desc());
        if (!one_by_one()) dcol_buf_ = c.buffer(matrix(M, K, f32), LayerContext::Life::bwd);
        c.set_diff_src_desc(0, src_desc(in_dims, dt));
    }
    return dst;
}

void GemmConv::bind(LayerContext& c, const memory& src) {
    const memory::dim M = rows(), K = cols_, OC = a_.out_channels;
    const memory::dims w_dims = {OC, c_, a_.kh, a_.kw};
    const auto f32 = memory::data_type::f32;
    const dnnl::engine& eng = c.eng();
    const std::int64_t in_chunk = std::int64_t(chunk_images_) * h_ * w_ * c_, out_chunk = M * OC;
    src_ = src.get_data_handle();
    if (fwd_col_buf_ >= 0) fwd_col_ = c.buffer_memory(fwd_col_buf_, matrix(M, K, dt_)).get_data_handle();
    // The columns a chunk's matmuls read: the gathered ones, or a 1x1 conv's input itself.
    auto columns = [&](int k, void* col, const memory::desc& d) {
        return memory(d, eng, col ? col : offset(src_, k * in_chunk, dt_));
    };

    // The weights as {kh, kw, in, out} (tag hwio) are the K x OC matrix.
    const memory hwio = c.weights(weight_, master_desc(w_dims));
    const memory w_matrix(matrix(K, OC, f32), eng, hwio.get_data_handle());
    memory w_fwd = w_matrix;
    if (fwd_pd_.weights_desc() != w_matrix.get_desc()) {
        w_fwd = memory(fwd_pd_.weights_desc(), eng);
        weight_layout_ = {reorder(w_matrix, w_fwd), {{DNNL_ARG_FROM, w_matrix}, {DNNL_ARG_TO, w_fwd}}};
    }
    fwd_.prim = matmul(fwd_pd_);
    void* dst = c.output().get_data_handle();
    for (int k = 0; k < chunks_; ++k) {
        Args args = {{DNNL_ARG_SRC, columns(k, fwd_col_, matrix(M, K, dt_))},
                     {DNNL_ARG_WEIGHTS, w_fwd},
                     {DNNL_ARG_DST, memory(matrix(M, OC, dt_), eng, offset(dst, k * out_chunk, dt_))},
                     {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
        if (bias_ >= 0) args[DNNL_ARG_BIAS] = memory(matrix(1, OC, f32), eng, c.param_memory(bias_).get_data_handle());
        fwd_.chunks.push_back(std::move(args));
    }
    if (!c.training()) return;

    void* dy = c.diff_dst().get_data_handle();
    auto dy_chunk = [&](int k) { return memory(matrix(M, OC, dt_), eng, offset(dy, k * out_chunk, dt_)); };
    if (train_weights_) {
        if (bwd_col_buf_ >= 0) bwd_col_ = c.buffer_memory(bwd_col_buf_, matrix(M, K, dt_)).get_data_handle();
        const memory grad = c.grad_memory(weight_, master_desc(w_dims));
        const memory dw(matrix(K, OC, f32), eng, grad.get_data_handle());
        bwd_w_first_.prim = matmul(bwd_w_first_pd_);
        bwd_w_sum_.prim = matmul(bwd_w_sum_pd_);
        for (int k = 0; k < chunks_; ++k) {
            Args args = {{DNNL_ARG_SRC, columns(k, bwd_col_, matrix(K, M, dt_, tag::ba))},
                         {DNNL_ARG_WEIGHTS, dy_chunk(k)},
                         {DNNL_ARG_DST, dw},
                         {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
            (k == 0 ? bwd_w_first_ : bwd_w_sum_).chunks.push_back(std::move(args));
        }
        if (bias_ >= 0) {
            bias_grad_ = reduction(bias_pd_);
            const memory db = c.grad_memory(bias_, memory::desc({OC}, f32, tag::a));
            bias_args_ = {{DNNL_ARG_SRC, memory(bias_pd_.src_desc(), eng, dy)},
                          {DNNL_ARG_DST, memory(matrix(1, OC, f32), eng, db.get_data_handle())},
                          {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
        }
    }
    if (input_grad_) {
        const memory ohwi = c.weights(weight_, memory::desc(w_dims, dt_, tag::ohwi));  // W^T: OC x K
        const memory w_t(matrix(OC, K, dt_), eng, ohwi.get_data_handle());
        diff_src_ = c.diff_src(0).get_data_handle();
        if (dcol_buf_ >= 0) {
            dcol_ = static_cast<float*>(c.buffer_memory(dcol_buf_, matrix(M, K, f32)).get_data_handle());
            acc_.assign(std::size_t(omp_get_max_threads()) * c_, 0.0f);  // the scatter's sums, per thread
        }
        bwd_d_.prim = matmul(bwd_d_pd_);
        for (int k = 0; k < chunks_; ++k) {
            const memory out = dcol_ ? memory(matrix(M, K, f32), eng, dcol_)
                                     : memory(matrix(M, K, dt_), eng, offset(diff_src_, k * in_chunk, dt_));
            bwd_d_.chunks.push_back({{DNNL_ARG_SRC, dy_chunk(k)},
                                     {DNNL_ARG_WEIGHTS, w_t},
                                     {DNNL_ARG_DST, out},
                                     {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}});
        }
    }
}

void GemmConv::im2col(int chunk, void* col) const {
    const Geometry g{h_, w_, c_, oh_, ow_, a_.kh, a_.kw, a_.stride, a_.pad_t, a_.pad_l};
    const std::int64_t first = std::int64_t(chunk) * chunk_images_ * h_ * w_ * c_;
    if (dt_ == memory::data_type::bf16)
        gather_columns(static_cast<const std::uint16_t*>(src_) + first, static_cast<std::uint16_t*>(col), g,
                       chunk_images_);
    else
        gather_columns(static_cast<const float*>(src_) + first, static_cast<float*>(col), g, chunk_images_);
}

void GemmConv::col2im(int chunk, const float* dcol, void* dsrc) {
    const Geometry g{h_, w_, c_, oh_, ow_, a_.kh, a_.kw, a_.stride, a_.pad_t, a_.pad_l};
    const std::int64_t first = std::int64_t(chunk) * chunk_images_ * h_ * w_ * c_;
    if (dt_ == memory::data_type::bf16)
        scatter_columns(dcol, static_cast<std::uint16_t*>(dsrc) + first, g, chunk_images_, acc_.data());
    else
        scatter_columns(dcol, static_cast<float*>(dsrc) + first, g, chunk_images_, acc_.data());
}

void GemmConv::forward(LayerContext& c) {
    if (weight_layout_.first && weight_version_ != c.store().version()) {
        weight_version_ = c.store().version();
        weight_layout_.first.execute(c.stream(), weight_layout_.second);
    }
    for (int k = 0; k < chunks_; ++k) {
        if (fwd_col_) im2col(k, fwd_col_);
        fwd_.prim.execute(c.stream(), fwd_.chunks[k]);
    }
}

void GemmConv::backward(LayerContext& c) {
    if (train_weights_) {
        for (int k = 0; k < chunks_; ++k) {
            if (bwd_col_) im2col(k, bwd_col_);
            const Pass& p = k == 0 ? bwd_w_first_ : bwd_w_sum_;
            p.prim.execute(c.stream(), p.chunks[k == 0 ? 0 : k - 1]);
        }
        if (bias_ >= 0) bias_grad_.execute(c.stream(), bias_args_);
        c.finish_grads();
        c.count_backward_primitive();
    }
    if (input_grad_) {
        for (int k = 0; k < chunks_; ++k) {
            bwd_d_.prim.execute(c.stream(), bwd_d_.chunks[k]);
            if (dcol_) col2im(k, dcol_, diff_src_);
        }
        c.count_backward_primitive();
    }
}

}  // namespace deeper::runners::layers
