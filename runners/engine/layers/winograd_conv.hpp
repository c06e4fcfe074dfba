#pragma once
// A 3x3 stride-1 convolution as Winograd F(2x2, 3x3) (Lavin & Gray, 2016): each 2x2 output
// tile comes from its 4x4 input tile in 16 multiplies where the direct convolution takes 36.
// The transforms are the engine's loops, in fp32 arithmetic; the products, one 4x4 grid per
// tile and channel pair, are summed over the input channels by 16 batched matrix multiplies
// (oneDNN's matmul, one per grid position), in bf16 where the conv computes in bf16.
//
// oneDNN 2.6 has Winograd in fp32 only, as F(4x4, 3x3). F(2x2, 3x3)'s transform entries are 0,
// +-1 and +-1/2: rounding the transformed tiles to bf16 about doubled the direct bf16 conv's
// error in the tuner's gradient check; F(4x4, 3x3)'s (up to 8 on 6x6 tiles) magnify it more,
// and were not tried in bf16 here. The data
// gradient runs the transforms' adjoints; the weight gradient multiplies the transformed inputs
// by the transformed output gradient, summed over the tiles.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <vector>

#include "nets/graph.hpp"
#include "runners/engine/layer.hpp"
#include "runners/engine/layers/matmul_conv.hpp"

namespace deeper::runners::layers {

struct Tiles;

class WinogradConv : public MatmulConv {
public:
    // Whether it computes `a` in `dt` here: 3x3, stride 1, ungrouped (any padding), on a CPU
    // the engine's AVX-512 kernels run on.
    static bool applies(const nets::ConvAttrs& a, memory::data_type dt);
    // `a` is the conv's attributes (applies(a)); `out_h` x `out_w` its output map.
    WinogradConv(const nets::ConvAttrs& a, int out_h, int out_w);

    memory::desc define(LayerContext& c, const memory::dims& in_dims, memory::data_type dt, int weight, int bias,
                        bool train_weights) override;
    void bind(LayerContext& c, const memory& src) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    static constexpr int kGrid = 16;  // positions of the 4x4 transformed tile

    std::int64_t tiles_per_image() const { return std::int64_t(tiles_h_) * tiles_w_; }
    std::int64_t tiles() const { return chunk_images_ * tiles_per_image(); }  // per chunk: P
    std::int64_t first_image(int chunk) const { return std::int64_t(chunk) * chunk_images_; }
    Tiles geometry() const;
    void transform_input(int chunk, void* v);  // src -> V [grid][P][C]
    void transform_output(int chunk);          // M [grid][P][K] -> dst
    void transform_output_grad(int chunk);     // diff dst -> dM [grid][P][K]
    void transform_input_grad(int chunk);      // dV [grid][P][C] -> diff src
    void transform_weights();                  // fp32 master -> U [grid][C][K]
    void transform_weight_grad();              // dU [grid][C][K] -> fp32 gradient

    nets::ConvAttrs a_;
    int oh_, ow_, tiles_h_, tiles_w_;
    int n_ = 0, c_ = 0, h_ = 0, w_ = 0;  // input dims
    int chunk_images_ = 1, chunks_ = 1;
    memory::data_type dt_ = memory::data_type::f32;
    int weight_ = -1, bias_ = -1;
    bool train_weights_ = false, input_grad_ = false;

    dnnl::matmul::primitive_desc fwd_pd_, bwd_d_pd_, bwd_w_first_pd_, bwd_w_sum_pd_;
    dnnl::reduction::primitive_desc bias_pd_;
    int fwd_v_buf_ = -1, m_buf_ = -1, bwd_v_buf_ = -1, du_buf_ = -1, dm_buf_ = -1, dv_buf_ = -1;
    dnnl::matmul fwd_, bwd_d_, bwd_w_first_, bwd_w_sum_;
    dnnl::reduction bias_grad_;
    Args fwd_args_, bwd_d_args_, bwd_w_args_, bias_args_;

    void* src_ = nullptr;
    void* dst_ = nullptr;
    void* dy_ = nullptr;
    void* diff_src_ = nullptr;
    void* fwd_v_ = nullptr;
    void* bwd_v_ = nullptr;
    void* dm_ = nullptr;
    float* m_ = nullptr;
    float* dv_ = nullptr;
    const float* bias_values_ = nullptr;
    memory master_, grad_;      // the fp32 weights and their gradient, {kh, kw, in, out}
    memory u_;   // the transformed weights, in dt: made when the weights change, kept between steps
    memory du_;  // their gradient, in fp32
    std::uint64_t weight_version_ = 0;  // the store's versions start at 1
    std::vector<float> image_sums_;  // per thread: an image's input gradient, summed in fp32
};

}  // namespace deeper::runners::layers
