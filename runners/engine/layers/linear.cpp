// Fully connected layer. It reads its input at any rank (after flatten or global pooling the
// input stays 4D), with weights of the same rank: {out, C, H, W} is PyTorch's {out, C*H*W}.
#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

namespace {
using namespace dnnl;
}

LinearLayer::LinearLayer(const nets::Node& n) : node_(n), a_(std::get<nets::LinearAttrs>(n.attrs)) {}

memory::desc LinearLayer::define(LayerContext& c) {
    // bf16 logits go to the loss through the engine's fp32 output copy (as autocast does)
    const memory::data_type dt = compute_type(c.precision());
    const memory::desc in = c.in_desc(0);
    const memory::desc src_md = in.data_type() == dt ? in : any_desc(in.dims(), dt);
    const auto sd = in.dims();
    memory::dims w_dims = sd;
    w_dims[0] = a_.out_features;
    const memory::dims dst_dims = {sd[0], a_.out_features};
    const memory::desc w_md = c.plain_layouts() ? plain_desc(w_dims, dt) : any_desc(w_dims, dt);
    const memory::desc dst = plain_desc(dst_dims, dt);  // logits stay plain for the loss
    const memory::desc b_md = plain_desc({a_.out_features});  // bias and weight gradients: fp32
    const auto prop = c.training() ? prop_kind::forward_training : prop_kind::forward_inference;
    auto fwd_d = a_.bias ? inner_product_forward::desc(prop, src_md, w_md, b_md, dst)
                         : inner_product_forward::desc(prop, src_md, w_md, dst);
    fwd_pd_ = inner_product_forward::primitive_desc(fwd_d, c.attr(), c.eng());
    const memory::desc src = fwd_pd_.src_desc();
    c.scratchpad(fwd_pd_.scratchpad_desc());

    std::int64_t fan_in = 1;
    for (size_t i = 1; i < sd.size(); ++i) fan_in *= sd[i];
    ParamInfo w;
    w.name = node_.name + ".weight";
    w.dims = {a_.out_features, int(fan_in)};
    w.plain = plain_desc(w_dims);
    w.internal = dt == memory::data_type::f32 ? fwd_pd_.weights_desc() : w.plain;  // fp32 master
    w.init = Init::uniform_fan_in;
    w.fan = int(fan_in);
    w.matrix = true;
    weight_ = c.param(w);
    if (a_.bias) {
        ParamInfo b;
        b.name = node_.name + ".bias";
        b.dims = {a_.out_features};
        b.internal = b.plain = b_md;
        b.init = Init::uniform_fan_in;
        b.fan = int(fan_in);
        bias_ = c.param(b);
    }
    const bool train_weights = c.training() && c.trainable(weight_);
    src_copy_.define(c, 0, src, train_weights);
    if (!c.training()) return fwd_pd_.dst_desc();
    if (train_weights) {
        auto bw_d = a_.bias ? inner_product_backward_weights::desc(src, any_desc(w_dims), b_md, dst)
                            : inner_product_backward_weights::desc(src, any_desc(w_dims), dst);
        bwd_w_pd_ = inner_product_backward_weights::primitive_desc(bw_d, c.attr(), c.eng(), fwd_pd_);
        c.scratchpad(bwd_w_pd_.scratchpad_desc());
    }
    if (c.input_needs_grad(0)) {
        bwd_d_pd_ = inner_product_backward_data::primitive_desc({src, any_desc(w_dims, dt), dst},
                                                                c.attr(), c.eng(), fwd_pd_);
        c.scratchpad(bwd_d_pd_.scratchpad_desc());
        c.set_diff_src_desc(0, bwd_d_pd_.diff_src_desc());
    }
    return fwd_pd_.dst_desc();
}

void LinearLayer::bind(LayerContext& c) {
    const memory src = src_copy_.bind(c);
    fwd_ = inner_product_forward(fwd_pd_);
    fwd_args_ = {{DNNL_ARG_SRC, src},
                 {DNNL_ARG_WEIGHTS, c.weights(weight_, fwd_pd_.weights_desc())},
                 {DNNL_ARG_DST, c.output()},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (bias_ >= 0) fwd_args_[DNNL_ARG_BIAS] = c.param_memory(bias_);
    if (bwd_w_pd_) {
        bwd_w_ = inner_product_backward_weights(bwd_w_pd_);
        bwd_w_args_ = {{DNNL_ARG_SRC, src},
                       {DNNL_ARG_DIFF_DST, c.diff_dst()},
                       {DNNL_ARG_DIFF_WEIGHTS, c.grad_memory(weight_, bwd_w_pd_.diff_weights_desc())},
                       {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
        if (bias_ >= 0)
            bwd_w_args_[DNNL_ARG_DIFF_BIAS] = c.grad_memory(bias_, bwd_w_pd_.diff_bias_desc());
    }
    if (bwd_d_pd_) {
        bwd_d_ = inner_product_backward_data(bwd_d_pd_);
        bwd_d_args_ = {{DNNL_ARG_DIFF_DST, c.diff_dst()},
                       {DNNL_ARG_WEIGHTS, c.weights(weight_, bwd_d_pd_.weights_desc())},
                       {DNNL_ARG_DIFF_SRC, c.diff_src(0)},
                       {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    }
}

void LinearLayer::forward(LayerContext& c) {
    src_copy_.run(c);
    fwd_.execute(c.stream(), fwd_args_);
}

void LinearLayer::backward(LayerContext& c) {
    if (bwd_w_pd_) {
        bwd_w_.execute(c.stream(), bwd_w_args_);
        c.finish_grads();
        c.count_backward_primitive();
    }
    if (bwd_d_pd_) {
        bwd_d_.execute(c.stream(), bwd_d_args_);
        c.count_backward_primitive();
    }
}

}  // namespace deeper::runners::layers
