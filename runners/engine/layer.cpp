#include "runners/engine/layer.hpp"

namespace deeper::runners {

void InputCopy::define(LayerContext& c, int input, const memory::desc& want, bool keep_for_backward) {
    input_ = input;
    want_ = want;
    if (want != c.in_desc(input))
        buf_ = c.buffer(want, keep_for_backward ? LayerContext::Life::fwd_to_bwd : LayerContext::Life::fwd);
    else if (keep_for_backward)
        c.need_input_in_backward(input);
    // A kept copy stands in for the input: holding both (a bf16 activation and the fp32 copy
    // an fp32 layer reads) cost more memory than an all-fp32 net.
}

memory InputCopy::bind(LayerContext& c) {
    memory in = c.input(input_);
    if (buf_ < 0) return in;
    memory copy = c.buffer_memory(buf_, want_);
    prim_ = dnnl::reorder(in, copy);
    args_ = {{DNNL_ARG_FROM, in}, {DNNL_ARG_TO, copy}};
    return copy;
}

}  // namespace deeper::runners
