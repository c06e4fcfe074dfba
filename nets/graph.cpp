#include "nets/graph.hpp"

#include <numeric>

namespace deeper::nets {

const char* op_name(Op op) {
    switch (op) {
        case Op::input: return "input";
        case Op::conv: return "conv";
        case Op::batchnorm: return "batchnorm";
        case Op::relu: return "relu";
        case Op::relu6: return "relu6";
        case Op::swish: return "swish";
        case Op::sigmoid: return "sigmoid";
        case Op::max_pool: return "max_pool";
        case Op::avg_pool: return "avg_pool";
        case Op::global_avg_pool: return "global_avg_pool";
        case Op::lrn: return "lrn";
        case Op::linear: return "linear";
        case Op::dropout: return "dropout";
        case Op::drop_connect: return "drop_connect";
        case Op::add: return "add";
        case Op::channel_scale: return "channel_scale";
        case Op::concat: return "concat";
        case Op::flatten: return "flatten";
        case Op::zero_pad_shortcut: return "zero_pad_shortcut";
    }
    return "?";
}

std::int64_t ParamTensor::elems() const {
    return std::accumulate(dims.begin(), dims.end(), std::int64_t{1},
                           [](std::int64_t a, int d) { return a * d; });
}

int Graph::find(const std::string& node_name) const {
    for (const auto& n : nodes)
        if (n.name == node_name) return n.id;
    return -1;
}

std::int64_t Graph::total_params() const {
    std::int64_t s = 0;
    for (const auto& n : nodes) s += n.params;
    return s;
}

std::int64_t Graph::total_macs() const {
    std::int64_t s = 0;
    for (const auto& n : nodes) s += n.macs;
    return s;
}

std::vector<ParamTensor> Graph::param_tensors(const Node& n) const {
    std::vector<ParamTensor> out;
    if (const auto* c = std::get_if<ConvAttrs>(&n.attrs); c && n.op == Op::conv) {
        int in_c = node(n.inputs[0]).out.c;
        out.push_back({n.name + ".weight", {c->out_channels, in_c / c->groups, c->kh, c->kw}});
        if (c->bias) out.push_back({n.name + ".bias", {c->out_channels}});
    } else if (n.op == Op::batchnorm) {
        out.push_back({n.name + ".weight", {n.out.c}});
        out.push_back({n.name + ".bias", {n.out.c}});
    } else if (const auto* l = std::get_if<LinearAttrs>(&n.attrs); l && n.op == Op::linear) {
        out.push_back({n.name + ".weight", {l->out_features, int(node(n.inputs[0]).out.elems())}});
        if (l->bias) out.push_back({n.name + ".bias", {l->out_features}});
    }
    return out;
}

}  // namespace deeper::nets
