#pragma once
// A convolution computed as im2col + matrix multiply: the columns of a chunk of images are
// gathered (rows: output pixels, columns: the kernel's taps x input channels, NHWC order) and
// oneDNN's matmul does the arithmetic in all three passes. It serves the small maps where
// oneDNN 2.6's AMX convolution kernels run at a tenth of its AMX matmul (measurements in
// conv.cpp); a 1x1 stride-1 conv needs no gathering at all.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <utility>
#include <vector>

#include "nets/graph.hpp"
#include "runners/engine/layer.hpp"
#include "runners/engine/layers/matmul_conv.hpp"

namespace deeper::runners::layers {

// Images per chunk: the largest divisor of `batch` whose columns (rows_per_image x columns
// each) stay within `max_elems`, so that the gathered columns stay a few MiB at any batch.
int gemm_chunk_images(int batch, std::int64_t rows_per_image, std::int64_t columns, std::int64_t max_elems);

class GemmConv : public MatmulConv {
public:
    // `a` is the conv's attributes (groups == 1); `out_h` x `out_w` its output map.
    GemmConv(const nets::ConvAttrs& a, int out_h, int out_w) : a_(a), oh_(out_h), ow_(out_w) {}

    memory::desc define(LayerContext& c, const memory::dims& in_dims, memory::data_type dt, int weight, int bias,
                        bool train_weights) override;
    void bind(LayerContext& c, const memory& src) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    struct Pass {  // one matmul, run once per chunk with its own arguments
        dnnl::matmul prim;
        std::vector<Args> chunks;
    };
    void im2col(int chunk, void* col) const;
    void col2im(int chunk, const float* dcol, void* dsrc);
    bool one_by_one() const;  // 1x1, stride 1, no padding: the input is its own column matrix
    std::int64_t rows() const { return std::int64_t(chunk_images_) * oh_ * ow_; }

    nets::ConvAttrs a_;
    int oh_, ow_;
    int n_ = 0, c_ = 0, h_ = 0, w_ = 0;  // input dims
    std::int64_t cols_ = 0;              // kh * kw * c_
    int chunk_images_ = 1, chunks_ = 1;
    memory::data_type dt_ = memory::data_type::f32;
    int weight_ = -1, bias_ = -1;
    bool train_weights_ = false, input_grad_ = false;

    dnnl::matmul::primitive_desc fwd_pd_, bwd_w_first_pd_, bwd_w_sum_pd_, bwd_d_pd_;
    dnnl::reduction::primitive_desc bias_pd_;
    int fwd_col_buf_ = -1, bwd_col_buf_ = -1, dcol_buf_ = -1;

    Pass fwd_, bwd_w_first_, bwd_w_sum_, bwd_d_;
    dnnl::reduction bias_grad_;
    Args bias_args_;
    void* src_ = nullptr;
    void* diff_src_ = nullptr;
    void* fwd_col_ = nullptr;
    void* bwd_col_ = nullptr;
    float* dcol_ = nullptr;
    std::vector<float> acc_;  // C floats per thread for col2im's sums
    // The forward's weights in the matmul's own layout and type, made from the fp32 master
    // weights ({kh, kw, in, out}: a K x OC matrix) whenever they changed.
    std::pair<dnnl::reorder, Args> weight_layout_;
    std::uint64_t weight_version_ = 0;  // the store's versions start at 1
};

}  // namespace deeper::runners::layers
