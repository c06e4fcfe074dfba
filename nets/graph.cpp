#include "nets/graph.hpp"

#include <fmt/format.h>

namespace deeper::nets {

std::string shape_text(const Shape& s) { return fmt::format("{}x{}x{}", s.c, s.h, s.w); }

const char* op_name(Op op) {
    switch (op) {
        case Op::input: return "input";
        case Op::conv: return "conv";
        case Op::batchnorm: return "batchnorm";
        case Op::relu: return "relu";
        case Op::relu6: return "relu6";
        case Op::swish: return "swish";
        case Op::sigmoid: return "sigmoid";
        case Op::tanh: return "tanh";
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

}  // namespace deeper::nets
