// ReLU, ReLU6, swish, sigmoid and tanh. All but swish compute their gradient from the output,
// so they run in place; swish needs its input. One that the layer before it runs
// (Layer::runs_its_consumer) is an identity.
#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

namespace {
using namespace dnnl;
}

std::optional<nets::Op> sole_consumer_op(const nets::Graph& g, const nets::Node& producer) {
    for (int o : g.outputs)
        if (o == producer.id) return std::nullopt;
    std::optional<nets::Op> op;
    for (const auto& n : g.nodes)
        for (int i : n.inputs) {
            if (i != producer.id) continue;
            if (op) return std::nullopt;
            op = n.op;
        }
    return op;
}

bool fuses_relu(const nets::Graph& g, const nets::Node& producer, bool allowed) {
    return allowed && (producer.op == nets::Op::batchnorm || producer.op == nets::Op::add) &&
           sole_consumer_op(g, producer) == nets::Op::relu;
}

EltwiseLayer::EltwiseLayer(const nets::Node& n) : node_(n) {
    switch (n.op) {
        case nets::Op::relu:
            alg_ = algorithm::eltwise_relu_use_dst_for_bwd;
            use_dst_ = true;
            break;
        case nets::Op::relu6:
            alg_ = algorithm::eltwise_clip_v2_use_dst_for_bwd;
            alpha_ = 0.f;
            beta_ = 6.f;
            use_dst_ = true;
            break;
        case nets::Op::sigmoid:
            alg_ = algorithm::eltwise_logistic_use_dst_for_bwd;
            use_dst_ = true;
            break;
        case nets::Op::tanh:
            alg_ = algorithm::eltwise_tanh_use_dst_for_bwd;
            use_dst_ = true;
            break;
        default:  // swish = x * sigmoid(alpha x); alpha 1 is SiLU (the default 0 is x/2)
            alg_ = algorithm::eltwise_swish;
            alpha_ = 1.f;
    }
    inplace_ok = use_dst_;
}

memory::desc EltwiseLayer::define(LayerContext& c) {
    if (c.run_by_producer()) {  // fused into the batchnorm or add before it
        identity = passes_grad = true;
        return c.in_desc(0);
    }
    const memory::desc data = c.in_desc(0);
    const auto prop = c.training() ? prop_kind::forward_training : prop_kind::forward_inference;
    fwd_pd_ = eltwise_forward::primitive_desc({prop, alg_, data, alpha_, beta_}, c.attr(), c.eng());
    c.scratchpad(fwd_pd_.scratchpad_desc());
    if (c.training() && c.input_needs_grad(0)) {
        bwd_pd_ = eltwise_backward::primitive_desc({alg_, data, data, alpha_, beta_}, c.attr(),
                                                   c.eng(), fwd_pd_);
        c.scratchpad(bwd_pd_.scratchpad_desc());
        if (use_dst_) c.need_output_in_backward();
        else c.need_input_in_backward(0);
    }
    return fwd_pd_.dst_desc();
}

void EltwiseLayer::bind(LayerContext& c) {
    if (identity) return;
    fwd_ = eltwise_forward(fwd_pd_);
    fwd_args_ = {{DNNL_ARG_SRC, c.input(0)},
                 {DNNL_ARG_DST, c.output()},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (!bwd_pd_) return;
    bwd_ = eltwise_backward(bwd_pd_);
    bwd_args_ = {{use_dst_ ? DNNL_ARG_DST : DNNL_ARG_SRC, use_dst_ ? c.output() : c.input(0)},
                 {DNNL_ARG_DIFF_DST, c.diff_dst()},
                 {DNNL_ARG_DIFF_SRC, c.diff_src(0)},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
}

void EltwiseLayer::forward(LayerContext& c) {
    if (!identity) fwd_.execute(c.stream(), fwd_args_);
}

void EltwiseLayer::backward(LayerContext& c) {
    if (identity || !bwd_pd_) return;
    bwd_.execute(c.stream(), bwd_args_);
    c.count_backward_primitive();
}

}  // namespace deeper::runners::layers
