// Convolution (grouped and depthwise included): direct algorithm, layouts chosen by oneDNN.
#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

namespace {
using namespace dnnl;
}

ConvLayer::ConvLayer(const nets::Node& n) : node_(n), a_(std::get<nets::ConvAttrs>(n.attrs)) {}

memory::desc ConvLayer::define(LayerContext& c) {
    const memory::desc in = c.in_desc(0);
    const auto id = in.dims();
    const memory::dim N = id[0], IC = id[1];
    const memory::dims dst_dims = {N, a_.out_channels, node_.out.h, node_.out.w};
    memory::dims w_dims = {a_.out_channels, IC, a_.kh, a_.kw};
    if (a_.groups > 1)
        w_dims = {a_.groups, a_.out_channels / a_.groups, IC / a_.groups, a_.kh, a_.kw};
    const memory::dims strides = {a_.stride, a_.stride}, pad_l = {a_.pad_t, a_.pad_l},
                       pad_r = {a_.pad_b, a_.pad_r};
    const bool plain = c.plain_layouts();
    const memory::desc src_md = plain ? in : any_desc(id);
    const memory::desc w_md = plain ? plain_desc(w_dims) : any_desc(w_dims);
    const memory::desc dst_md = plain ? plain_desc(dst_dims) : any_desc(dst_dims);
    const memory::desc b_md = plain_desc({a_.out_channels});
    const auto prop = c.training() ? prop_kind::forward_training : prop_kind::forward_inference;
    const auto alg = algorithm::convolution_direct;
    auto fwd_d = a_.bias ? convolution_forward::desc(prop, alg, src_md, w_md, b_md, dst_md, strides,
                                                     pad_l, pad_r)
                         : convolution_forward::desc(prop, alg, src_md, w_md, dst_md, strides,
                                                     pad_l, pad_r);
    fwd_pd_ = convolution_forward::primitive_desc(fwd_d, c.attr(), c.eng());
    c.scratchpad(fwd_pd_.scratchpad_desc());

    ParamInfo w;
    w.name = node_.name + ".weight";
    w.dims = {a_.out_channels, int(IC) / a_.groups, a_.kh, a_.kw};
    w.internal = fwd_pd_.weights_desc();
    w.plain = plain_desc(w_dims);
    w.init = Init::kaiming_normal_fan_out;
    w.fan = a_.out_channels * a_.kh * a_.kw;
    w.matrix = true;
    weight_ = c.param(w);
    if (a_.bias) {
        ParamInfo b;
        b.name = node_.name + ".bias";
        b.dims = {a_.out_channels};
        b.internal = b.plain = b_md;
        bias_ = c.param(b);
    }

    const memory::desc src = fwd_pd_.src_desc();
    train_weights_ = c.training() && c.trainable(weight_);
    if (src != in) src_buffer_ = c.buffer(src, train_weights_ ? LayerContext::Life::fwd_to_bwd
                                                              : LayerContext::Life::fwd);
    if (train_weights_) {
        c.need_input_in_backward(0);
        auto bw_d = a_.bias
            ? convolution_backward_weights::desc(alg, src, any_desc(w_dims), b_md,
                                                 fwd_pd_.dst_desc(), strides, pad_l, pad_r)
            : convolution_backward_weights::desc(alg, src, any_desc(w_dims), fwd_pd_.dst_desc(),
                                                 strides, pad_l, pad_r);
        bwd_w_pd_ = convolution_backward_weights::primitive_desc(bw_d, c.attr(), c.eng(), fwd_pd_);
        c.scratchpad(bwd_w_pd_.scratchpad_desc());
    }
    if (c.training() && c.input_needs_grad(0)) {
        convolution_backward_data::desc bd_d(alg, src, any_desc(w_dims), fwd_pd_.dst_desc(),
                                             strides, pad_l, pad_r);
        bwd_d_pd_ = convolution_backward_data::primitive_desc(bd_d, c.attr(), c.eng(), fwd_pd_);
        c.scratchpad(bwd_d_pd_.scratchpad_desc());
        c.set_diff_src_desc(0, bwd_d_pd_.diff_src_desc());
    }
    return fwd_pd_.dst_desc();
}

void ConvLayer::bind(LayerContext& c) {
    memory src = c.input(0);
    if (src_buffer_ >= 0) {
        memory conv_src = c.buffer_memory(src_buffer_, fwd_pd_.src_desc());
        src_reorder_ = reorder(src, conv_src);
        src_reorder_args_ = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, conv_src}};
        src = conv_src;
    }
    fwd_ = convolution_forward(fwd_pd_);
    fwd_args_ = {{DNNL_ARG_SRC, src},
                 {DNNL_ARG_WEIGHTS, c.weights(weight_, fwd_pd_.weights_desc())},
                 {DNNL_ARG_DST, c.output()},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (bias_ >= 0) fwd_args_[DNNL_ARG_BIAS] = c.param_memory(bias_);
    if (bwd_w_pd_) {
        bwd_w_ = convolution_backward_weights(bwd_w_pd_);
        bwd_w_args_ = {{DNNL_ARG_SRC, src},
                       {DNNL_ARG_DIFF_DST, c.diff_dst()},
                       {DNNL_ARG_DIFF_WEIGHTS, c.grad_memory(weight_, bwd_w_pd_.diff_weights_desc())},
                       {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
        if (bias_ >= 0)
            bwd_w_args_[DNNL_ARG_DIFF_BIAS] = c.grad_memory(bias_, bwd_w_pd_.diff_bias_desc());
    }
    if (bwd_d_pd_) {
        bwd_d_ = convolution_backward_data(bwd_d_pd_);
        bwd_d_args_ = {{DNNL_ARG_DIFF_DST, c.diff_dst()},
                       {DNNL_ARG_WEIGHTS, c.weights(weight_, bwd_d_pd_.weights_desc())},
                       {DNNL_ARG_DIFF_SRC, c.diff_src(0)},
                       {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    }
}

void ConvLayer::forward(LayerContext& c) {
    if (src_buffer_ >= 0) src_reorder_.execute(c.stream(), src_reorder_args_);
    fwd_.execute(c.stream(), fwd_args_);
}

void ConvLayer::backward(LayerContext& c) {
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
