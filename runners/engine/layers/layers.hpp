#pragma once
// The layer for each graph op. One op family per file.
#include <optional>
#include <vector>

#include "runners/engine/layer.hpp"
#include "runners/engine/layers/bn_kernels.hpp"
#include "runners/engine/layers/dw_kernels.hpp"
#include "runners/engine/layers/gemm_conv.hpp"
#include "runners/engine/layers/winograd_conv.hpp"
#include "runners/engine/layout.hpp"

namespace deeper::runners::layers {

using dnnl::memory;

class ConvLayer : public Layer {
public:
    explicit ConvLayer(const nets::Node& n);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    const nets::Node& node_;
    nets::ConvAttrs a_;
    memory::data_type data_type(const LayerContext& c, memory::dim in_channels) const;
    bool runs_as_gemm(const LayerContext& c, memory::dim in_channels) const;
    bool runs_as_winograd_f2(const LayerContext& c, memory::dim in_channels) const;
    memory::data_type matmul_conv_type(const LayerContext& c, memory::dim in_channels) const;
    void add_params(LayerContext& c, memory::dim in_channels, const memory::desc& plain, const memory::desc& internal);
    // Set when the conv runs on the engine's loops around matmul: im2col + matmul or Winograd.
    std::unique_ptr<MatmulConv> matmul_conv_;
    int weight_ = -1, bias_ = -1;
    bool train_weights_ = false;
    InputCopy src_copy_;
    dnnl::convolution_forward::primitive_desc fwd_pd_;
    dnnl::convolution_backward_weights::primitive_desc bwd_w_pd_;
    dnnl::convolution_backward_data::primitive_desc bwd_d_pd_;
    dnnl::primitive fwd_, bwd_w_, bwd_d_;
    Args fwd_args_, bwd_w_args_, bwd_d_args_;
    // oneDNN 2.6 has only its reference kernel for some depthwise backward-weights shapes
    // (maps smaller than the kernel): a direct loop replaces it there.
    bool own_dw_bwd_w_ = false;
    std::optional<DepthwiseWeightGrad> own_dw_;  // made at bind
    // When the forward's layouts leave only oneDNN's reference backward kernels (e.g. 8-channel
    // maps: plain src, 16c-padded dst), the backward passes take their own layouts and these
    // reorders feed them.
    int bwd_src_buf_ = -1, bwd_w_dy_buf_ = -1, bwd_d_dy_buf_ = -1;
    std::vector<std::pair<dnnl::primitive, Args>> bwd_w_prep_, bwd_d_prep_;
    // A kernel larger than its map runs cut to the taps that meet it (crop_ = first row and
    // column; empty when uncut): the full plain weights are cut into cropped_plain_ (then
    // reordered for the primitives) before a forward whenever the store's version moved, and
    // the cut gradient is written back into the full one with zeros elsewhere.
    std::vector<int> crop_;
    std::uint64_t cut_version_ = 0;  // the store's versions start at 1
    bool cropped() const { return !crop_.empty(); }
    memory bind_cropped_weights(LayerContext& c, const memory::desc& want);
    memory full_w_, cropped_plain_, full_grad_, cropped_grad_plain_;
    std::vector<std::pair<dnnl::primitive, Args>> weight_reorders_;
    std::pair<dnnl::primitive, Args> grad_to_plain_;
};

// The op of the one layer that reads `producer`'s output, when nothing else reads it and it is
// no output of the net.
std::optional<nets::Op> sole_consumer_op(const nets::Graph& g, const nets::Node& producer);

// A batchnorm or an add whose only consumer is a ReLU runs it inside (when `allowed`:
// CompileOptions::fuse_bn_relu): fuse_norm_relu, or an eltwise post-op of the add; it sets
// Layer::runs_its_consumer and the ReLU layer is an identity. A batch norm on the engine's own
// kernels also runs a ReLU6 or swish after it (decided in its define).
bool fuses_relu(const nets::Graph& g, const nets::Node& producer, bool allowed);

class BatchNormLayer : public Layer {
public:
    BatchNormLayer(const nets::Node& n, const nets::Graph& g, bool fuse_relu);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    void update_running_stats(LayerContext& c);
    // What the engine's kernels run after the norm: the fused ReLU, or a ReLU6 or swish that
    // is the only consumer.
    BnActivation own_activation(const nets::Graph& g) const;
    // scale_x = gamma / sqrt(var + eps) per channel, for the engine's kernels
    void fold(const float* var);
    void own_forward(LayerContext& c);
    void own_backward(LayerContext& c);
    const nets::Node& node_;
    bool fuse_relu_, fusion_allowed_;
    float eps_, momentum_;
    bool zero_scale_;
    int scale_ = -1, shift_ = -1, run_mean_ = -1, run_var_ = -1;
    int mean_buf_ = -1, var_buf_ = -1, ws_buf_ = -1, diff_src_tmp_ = -1;
    bool train_params_ = false;
    dnnl::batch_normalization_forward::primitive_desc fwd_pd_;
    dnnl::batch_normalization_backward::primitive_desc bwd_pd_;
    dnnl::primitive fwd_, bwd_;
    Args fwd_args_, bwd_args_;
    memory mean_, var_;
    // The engine's own kernels (bn_kernels.hpp) when the plan chose them and the layout allows.
    std::optional<ChannelsInnermost> own_;
    BnActivation own_activation_ = BnActivation::none;
    // What the forward applies: own_activation_, or the ReLU of the add it sums (residual_).
    BnActivation apply_activation_ = BnActivation::none;
    bool own_backward_ = false, own_dx_ = false;
    const void *x_ = nullptr, *residual_ = nullptr;
    void *y_ = nullptr, *dy_ = nullptr, *dx_ = nullptr;
    float *gamma_ = nullptr, *beta_ = nullptr, *dgamma_ = nullptr, *dbeta_ = nullptr;
    std::vector<float> scale_x_, inv_std_, sum_g_, sum_g_xc_, c1_, c0_;
    BnScratch scratch_;
};

class EltwiseLayer : public Layer {
public:
    explicit EltwiseLayer(const nets::Node& n);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    const nets::Node& node_;
    dnnl::algorithm alg_;
    float alpha_ = 0, beta_ = 0;
    bool use_dst_ = false;
    dnnl::eltwise_forward::primitive_desc fwd_pd_;
    dnnl::eltwise_backward::primitive_desc bwd_pd_;
    dnnl::primitive fwd_, bwd_;
    Args fwd_args_, bwd_args_;
};

class PoolLayer : public Layer {
public:
    explicit PoolLayer(const nets::Node& n);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    const nets::Node& node_;
    int ws_buf_ = -1;
    dnnl::pooling_forward::primitive_desc fwd_pd_;
    dnnl::pooling_backward::primitive_desc bwd_pd_;
    dnnl::primitive fwd_, bwd_;
    Args fwd_args_, bwd_args_;
};

class LrnLayer : public Layer {
public:
    explicit LrnLayer(const nets::Node& n);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    const nets::Node& node_;
    int ws_buf_ = -1;
    dnnl::lrn_forward::primitive_desc fwd_pd_;
    dnnl::lrn_backward::primitive_desc bwd_pd_;
    dnnl::primitive fwd_, bwd_;
    Args fwd_args_, bwd_args_;
};

class LinearLayer : public Layer {
public:
    explicit LinearLayer(const nets::Node& n);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    const nets::Node& node_;
    nets::LinearAttrs a_;
    int weight_ = -1, bias_ = -1;
    InputCopy src_copy_;
    dnnl::inner_product_forward::primitive_desc fwd_pd_;
    dnnl::inner_product_backward_weights::primitive_desc bwd_w_pd_;
    dnnl::inner_product_backward_data::primitive_desc bwd_d_pd_;
    dnnl::primitive fwd_, bwd_w_, bwd_d_;
    Args fwd_args_, bwd_w_args_, bwd_d_args_;
};

// Dropout (per element) and drop-connect (per sample), inverted scaling; identity at inference.
class DropLayer : public Layer {
public:
    explicit DropLayer(const nets::Node& n);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    const nets::Node& node_;
    bool per_sample_;
    float rate_;
    bool bf16_ = false;
    int mask_buf_ = -1;
    std::size_t n_ = 0, per_sample_elems_ = 0;  // elements, padding included
    float* mask_ = nullptr;
    void *x_ = nullptr, *y_ = nullptr, *dy_ = nullptr, *dx_ = nullptr;
};

// Elementwise add; gradients pass through to both inputs. With a fused ReLU (fuses_relu) the
// add applies it, and its backward masks the gradient in place before passing it on.
class AddLayer : public Layer {
public:
    AddLayer(const nets::Node& n, const nets::Graph& g, bool fuse_relu);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    void bind_relu_backward(LayerContext& c);
    bool relu_;
    bool summed_ = false;  // LayerContext::summed_by_producer
    // The ReLU's backward with LayerContext::grad_part (relu_grad_sum) instead of oneDNN's.
    const void *y_ = nullptr, *part_ = nullptr;
    void* dy_ = nullptr;
    std::size_t elems_ = 0;
    bool bf16_ = false;
    int src1_buf_ = -1;
    dnnl::binary::primitive_desc pd_;
    dnnl::eltwise_backward::primitive_desc relu_bwd_pd_;
    dnnl::primitive add_, src1_reorder_, relu_bwd_;
    Args args_, src1_reorder_args_, relu_bwd_args_;
};

// x (N,C,H,W) * s (N,C,1,1): the excitation of SE blocks.
class ChannelScaleLayer : public Layer {
public:
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    bool dx_ = false, ds_ = false;
    InputCopy s_copy_;
    dnnl::binary::primitive_desc fwd_pd_, dx_pd_;
    dnnl::primitive fwd_, dx_prim_;
    Args fwd_args_, dx_args_;
    // ds = sum over H, W of dy * x, in one pass (oneDNN 2.6's reduction is a reference loop
    // on blocked layouts)
    memory x_, dy_, ds_mem_;
    std::unique_ptr<Indexer> x_index_, s_index_;
    std::vector<float> acc_;  // one row of C sums per thread, sized at bind
};

class ConcatLayer : public Layer {
public:
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    std::vector<InputCopy> copies_;
    dnnl::concat::primitive_desc pd_;
    dnnl::primitive cat_;
    Args args_;
    std::vector<dnnl::primitive> slices_;
    std::vector<Args> slice_args_;
    std::vector<int> slice_input_;
};

// Option-A shortcut: subsample by the stride, zero-pad the new channels.
class ZeroPadLayer : public Layer {
public:
    explicit ZeroPadLayer(const nets::Node& n);
    memory::desc define(LayerContext& c) override;
    void bind(LayerContext& c) override;
    void forward(LayerContext& c) override;
    void backward(LayerContext& c) override;

private:
    int stride_;
    memory::desc in_md_, out_md_;
    memory in_, out_, dy_, dx_;
    std::unique_ptr<Indexer> in_index_, out_index_;  // built at bind: nothing allocated per step
    std::int64_t run_ = 1;  // channels side by side in both layouts, in aligned runs of this many
};

// Flatten: the next linear layer reads any rank, so nothing moves.
class IdentityLayer : public Layer {
public:
    memory::desc define(LayerContext& c) override {
        identity = passes_grad = true;
        return c.in_desc(0);
    }
    void forward(LayerContext&) override {}
};

}  // namespace deeper::runners::layers
