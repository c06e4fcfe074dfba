#pragma once
// A convolution the engine computes itself around oneDNN's matmul (im2col + matmul,
// Winograd): activations in NHWC, the fp32 master weights kept as {kh, kw, in, out} (a
// K x OC matrix per tap), all three passes.
#include <oneapi/dnnl/dnnl.hpp>

#include "runners/engine/layer.hpp"

namespace deeper::runners::layers {

// `attr` with a sum post-op: the matmul adds to what its output holds (a gradient summed over
// chunks of the batch).
inline dnnl::primitive_attr with_sum(dnnl::primitive_attr attr) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
    return attr;
}

class MatmulConv {
public:
    virtual ~MatmulConv() = default;

    // The NHWC layout the conv reads its input in (and writes its input's gradient in).
    static memory::desc src_desc(const memory::dims& in_dims, memory::data_type dt) {
        return memory::desc(in_dims, dt, memory::format_tag::nhwc);
    }
    // The layout of the fp32 master weights {out, in, kh, kw}: {kh, kw, in, out}.
    static memory::desc master_desc(const memory::dims& w_dims) {
        return memory::desc(w_dims, memory::data_type::f32, memory::format_tag::hwio);
    }
    // Plans the passes and buffers for an input of `in_dims` in type `dt`; returns the NHWC
    // dst desc. `weight` and `bias` (-1: none) are the conv's parameter ids.
    virtual memory::desc define(LayerContext& c, const memory::dims& in_dims, memory::data_type dt, int weight,
                                int bias, bool train_weights) = 0;
    // `src` is the input in src_desc's layout.
    virtual void bind(LayerContext& c, const memory& src) = 0;
    virtual void forward(LayerContext& c) = 0;
    virtual void backward(LayerContext& c) = 0;
};

}  // namespace deeper::runners::layers
