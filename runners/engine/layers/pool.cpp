// Max and average pooling (PyTorch's ceil mode arrives as explicit right padding) and global
// average pooling.
#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

namespace {
using namespace dnnl;
}

PoolLayer::PoolLayer(const nets::Node& n) : node_(n) {}

memory::desc PoolLayer::define(LayerContext& c) {
    const memory::desc src = c.in_desc(0);
    const auto d = src.dims();
    memory::dims kernel, strides, pad_l, pad_r;
    algorithm alg;
    if (node_.op == nets::Op::global_avg_pool) {
        kernel = {d[2], d[3]};
        strides = {1, 1};
        pad_l = pad_r = {0, 0};
        alg = algorithm::pooling_avg_exclude_padding;
    } else {
        const auto& a = std::get<nets::PoolAttrs>(node_.attrs);
        kernel = {a.kh, a.kw};
        strides = {a.stride, a.stride};
        pad_l = {a.pad_t, a.pad_l};
        pad_r = {a.pad_b, a.pad_r};
        alg = node_.op == nets::Op::max_pool ? algorithm::pooling_max
              : a.exclude_pad                ? algorithm::pooling_avg_exclude_padding
                                             : algorithm::pooling_avg_include_padding;
    }
    const memory::dims dst_dims = {d[0], d[1], node_.out.h, node_.out.w};
    const memory::desc dst = c.plain_layouts() ? plain_desc(dst_dims, src.data_type())
                                               : any_desc(dst_dims, src.data_type());
    const auto prop = c.training() ? prop_kind::forward_training : prop_kind::forward_inference;
    fwd_pd_ = pooling_forward::primitive_desc({prop, alg, src, dst, strides, kernel, pad_l, pad_r},
                                              c.attr(), c.eng());
    c.scratchpad(fwd_pd_.scratchpad_desc());
    const bool bwd = c.training() && c.input_needs_grad(0);
    if (!fwd_pd_.workspace_desc().is_zero())
        ws_buf_ = c.buffer(fwd_pd_.workspace_desc(),
                           bwd ? LayerContext::Life::fwd_to_bwd : LayerContext::Life::fwd);
    if (bwd) {
        bwd_pd_ = pooling_backward::primitive_desc(
            {alg, src, fwd_pd_.dst_desc(), strides, kernel, pad_l, pad_r}, c.attr(), c.eng(),
            fwd_pd_);
        c.scratchpad(bwd_pd_.scratchpad_desc());
    }
    return fwd_pd_.dst_desc();
}

void PoolLayer::bind(LayerContext& c) {
    fwd_ = pooling_forward(fwd_pd_);
    fwd_args_ = {{DNNL_ARG_SRC, c.input(0)},
                 {DNNL_ARG_DST, c.output()},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    memory ws;
    if (ws_buf_ >= 0) fwd_args_[DNNL_ARG_WORKSPACE] = ws = c.buffer_memory(ws_buf_, fwd_pd_.workspace_desc());
    if (!bwd_pd_) return;
    bwd_ = pooling_backward(bwd_pd_);
    bwd_args_ = {{DNNL_ARG_DIFF_DST, c.diff_dst()},
                 {DNNL_ARG_DIFF_SRC, c.diff_src(0)},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (ws) bwd_args_[DNNL_ARG_WORKSPACE] = ws;
}

void PoolLayer::forward(LayerContext& c) { fwd_.execute(c.stream(), fwd_args_); }

void PoolLayer::backward(LayerContext& c) {
    if (!bwd_pd_) return;
    bwd_.execute(c.stream(), bwd_args_);
    c.count_backward_primitive();
}

LrnLayer::LrnLayer(const nets::Node& n) : node_(n) {}

memory::desc LrnLayer::define(LayerContext& c) {
    const memory::desc data = c.in_desc(0);
    const auto& a = std::get<nets::LrnAttrs>(node_.attrs);
    const auto prop = c.training() ? prop_kind::forward_training : prop_kind::forward_inference;
    const auto alg = algorithm::lrn_across_channels;
    fwd_pd_ = lrn_forward::primitive_desc({prop, alg, data, a.size, a.alpha, a.beta, a.k},
                                          c.attr(), c.eng());
    c.scratchpad(fwd_pd_.scratchpad_desc());
    const bool bwd = c.training() && c.input_needs_grad(0);
    if (!fwd_pd_.workspace_desc().is_zero())
        ws_buf_ = c.buffer(fwd_pd_.workspace_desc(),
                           bwd ? LayerContext::Life::fwd_to_bwd : LayerContext::Life::fwd);
    if (bwd) {
        c.need_input_in_backward(0);
        // 2.6's C++ lrn_backward::desc takes (data, diff_data): the same here.
        bwd_pd_ = lrn_backward::primitive_desc({alg, data, data, a.size, a.alpha, a.beta, a.k},
                                               c.attr(), c.eng(), fwd_pd_);
        c.scratchpad(bwd_pd_.scratchpad_desc());
    }
    return fwd_pd_.dst_desc();
}

void LrnLayer::bind(LayerContext& c) {
    fwd_ = lrn_forward(fwd_pd_);
    fwd_args_ = {{DNNL_ARG_SRC, c.input(0)},
                 {DNNL_ARG_DST, c.output()},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    memory ws;
    if (ws_buf_ >= 0) fwd_args_[DNNL_ARG_WORKSPACE] = ws = c.buffer_memory(ws_buf_, fwd_pd_.workspace_desc());
    if (!bwd_pd_) return;
    bwd_ = lrn_backward(bwd_pd_);
    bwd_args_ = {{DNNL_ARG_SRC, c.input(0)},
                 {DNNL_ARG_DIFF_DST, c.diff_dst()},
                 {DNNL_ARG_DIFF_SRC, c.diff_src(0)},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (ws) bwd_args_[DNNL_ARG_WORKSPACE] = ws;
}

void LrnLayer::forward(LayerContext& c) { fwd_.execute(c.stream(), fwd_args_); }

void LrnLayer::backward(LayerContext& c) {
    if (!bwd_pd_) return;
    bwd_.execute(c.stream(), bwd_args_);
    c.count_backward_primitive();
}

}  // namespace deeper::runners::layers
