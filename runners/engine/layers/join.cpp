// Ops that join tensors: residual add, SE channel scale, Inception concat.
#include <omp.h>

#include <algorithm>

#include "runners/engine/layers/layers.hpp"
#include "runners/engine/layers/relu_grad_sum.hpp"

namespace deeper::runners::layers {

namespace {
using namespace dnnl;
}

// ---- add: y = a + b (then max(y, 0) with a fused ReLU); both inputs receive dy, masked by
// y > 0 with the ReLU (the engine passes it through). Where a's layer wrote the sum already
// (a batch norm on the engine's kernels), into the memory the add's output shares with a, the
// forward does nothing. With the ReLU, the backward may add the last part of dy before the
// mask (the part a residual block's first conv sends to the block's input: relu_grad_sum). ----

AddLayer::AddLayer(const nets::Node& n, const nets::Graph& g, bool fuse_relu) : relu_(fuses_relu(g, n, fuse_relu)) {
    runs_its_consumer = relu_;
}

memory::desc AddLayer::define(LayerContext& c) {
    const memory::desc a = c.in_desc(0), b = c.in_desc(1);
    if (b != a) src1_buf_ = c.buffer(a, LayerContext::Life::fwd);
    dnnl::primitive_attr attr = c.attr();
    if (relu_) {
        post_ops po;
        po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
        attr.set_post_ops(po);
    }
    pd_ = binary::primitive_desc({algorithm::binary_add, a, a, a}, attr, c.eng());
    c.scratchpad(pd_.scratchpad_desc());
    // oneDNN 2.6's binary with a post-op, run in place on a blocked layout whose channels are
    // padded (24 in nChw16c), gets the padded block wrong (measured: errors of 1 on sums of
    // unit values); out of place it is exact.
    const bool padded = a.data.padded_dims[1] != a.data.dims[1];
    inplace_ok = !(relu_ && padded);
    passes_grad = true;
    if (relu_ && c.needs_backward()) {  // the mask from the output, applied to dy in place
        c.need_output_in_backward();
        can_take_grad_part = relu_grad_sum_runs_here(a.data_type());
        const auto alg = algorithm::eltwise_relu_use_dst_for_bwd;
        const eltwise_forward::primitive_desc hint({prop_kind::forward_training, alg, a, 0.f, 0.f}, c.attr(), c.eng());
        relu_bwd_pd_ = eltwise_backward::primitive_desc({alg, a, a, 0.f, 0.f}, c.attr(), c.eng(), hint);
        c.scratchpad(relu_bwd_pd_.scratchpad_desc());
    }
    return a;
}

void AddLayer::bind(LayerContext& c) {
    bind_relu_backward(c);
    summed_ = c.summed_by_producer();
    if (summed_) return;  // input 0 holds the sum, in the output's memory
    memory b = c.input(1);
    if (src1_buf_ >= 0) {
        memory converted = c.buffer_memory(src1_buf_, c.in_desc(0));
        src1_reorder_ = reorder(b, converted);
        src1_reorder_args_ = {{DNNL_ARG_FROM, b}, {DNNL_ARG_TO, converted}};
        b = converted;
    }
    add_ = binary(pd_);
    args_ = {{DNNL_ARG_SRC_0, c.input(0)},
             {DNNL_ARG_SRC_1, b},
             {DNNL_ARG_DST, c.output()},
             {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
}

void AddLayer::bind_relu_backward(LayerContext& c) {
    if (!relu_bwd_pd_) return;
    if (const auto part = c.grad_part()) {
        y_ = c.output().get_data_handle();
        part_ = part->get_data_handle();
        dy_ = c.diff_dst().get_data_handle();
        const auto d = c.output().get_desc();
        bf16_ = d.data_type() == memory::data_type::bf16;
        elems_ = d.get_size() / (bf16_ ? 2 : 4);
        return;
    }
    relu_bwd_ = eltwise_backward(relu_bwd_pd_);
    relu_bwd_args_ = {{DNNL_ARG_DST, c.output()},
                      {DNNL_ARG_DIFF_DST, c.diff_dst()},
                      {DNNL_ARG_DIFF_SRC, c.diff_dst()},
                      {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
}

void AddLayer::forward(LayerContext& c) {
    if (summed_) return;
    if (src1_buf_ >= 0) src1_reorder_.execute(c.stream(), src1_reorder_args_);
    add_.execute(c.stream(), args_);
}

void AddLayer::backward(LayerContext& c) {
    if (part_) relu_grad_sum(y_, part_, dy_, elems_, bf16_);
    else if (relu_bwd_) relu_bwd_.execute(c.stream(), relu_bwd_args_);
    else return;
    c.count_backward_primitive();
}

// ---- channel scale: y = x * s; dx = dy * s, ds = sum over H, W of dy * x ----

memory::desc ChannelScaleLayer::define(LayerContext& c) {
    // The scales (N, C, 1, 1) are read in x's data type and layout family (x may be a
    // depthwise conv's blocked fp32 output while s comes from a bf16 conv in NHWC; mixed
    // layouts leave oneDNN only its reference loop), and their gradient is written so.
    const memory::desc x = c.in_desc(0), s = like(x, c.in_desc(1).dims());
    fwd_pd_ = binary::primitive_desc({algorithm::binary_mul, x, s, x}, c.attr(), c.eng());
    c.scratchpad(fwd_pd_.scratchpad_desc());
    dx_ = c.training() && c.input_needs_grad(0);
    ds_ = c.training() && c.input_needs_grad(1);
    s_copy_.define(c, 1, s, dx_);
    if (!c.training()) return x;
    if (dx_) {
        dx_pd_ = binary::primitive_desc({algorithm::binary_mul, x, s, x}, c.attr(), c.eng());
        c.scratchpad(dx_pd_.scratchpad_desc());
    }
    if (ds_) {
        c.need_input_in_backward(0);
        c.set_diff_src_desc(1, s);
    }
    return x;
}

void ChannelScaleLayer::bind(LayerContext& c) {
    const memory s = s_copy_.bind(c);
    fwd_ = binary(fwd_pd_);
    fwd_args_ = {{DNNL_ARG_SRC_0, c.input(0)},
                 {DNNL_ARG_SRC_1, s},
                 {DNNL_ARG_DST, c.output()},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (dx_) {
        dx_prim_ = binary(dx_pd_);
        dx_args_ = {{DNNL_ARG_SRC_0, c.diff_dst()},
                    {DNNL_ARG_SRC_1, s},
                    {DNNL_ARG_DST, c.diff_src(0)},
                    {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    }
    if (ds_) {
        x_ = c.input(0);
        dy_ = c.diff_dst();
        ds_mem_ = c.diff_src(1);
        x_index_ = std::make_unique<Indexer>(x_.get_desc());
        s_index_ = std::make_unique<Indexer>(ds_mem_.get_desc());
        acc_.assign(std::size_t(omp_get_max_threads()) * c.in_desc(0).dims()[1], 0.f);
    }
}

void ChannelScaleLayer::forward(LayerContext& c) {
    s_copy_.run(c);
    fwd_.execute(c.stream(), fwd_args_);
}

namespace {

inline float load(const float* p, std::int64_t i) { return p[i]; }
inline float load(const std::uint16_t* p, std::int64_t i) { return bf16_to_float(p[i]); }
inline void store(float* p, std::int64_t i, float v) { p[i] = v; }
inline void store(std::uint16_t* p, std::int64_t i, float v) { p[i] = float_to_bf16(v); }

// ds[n, c] = sum over H, W of dy * x, summed in fp32 whatever the tensors' type T.
template <class T>
void scale_gradient(const memory& x_mem, const memory& dy_mem, const memory& ds_mem, const Indexer& xi,
                    const Indexer& si, std::vector<float>& acc_rows) {
    const auto d = x_mem.get_desc().dims();
    const std::int64_t N = d[0], C = d[1], HW = d[2] * d[3], W = d[3];
    const T* x = static_cast<const T*>(x_mem.get_data_handle());
    const T* dy = static_cast<const T*>(dy_mem.get_data_handle());
    T* ds = static_cast<T*>(ds_mem.get_data_handle());
    const bool inner = xi.channels_innermost();
    // Each (n, c) sums its own H x W; with channels innermost, neighbouring channels are
    // adjacent in memory, so the channel loop runs inside, into this thread's row of sums.
    float* acc_all = acc_rows.data();
#pragma omp parallel for schedule(static)
    for (std::int64_t n = 0; n < N; ++n) {
        if (inner) {
            float* acc = acc_all + std::size_t(omp_get_thread_num()) * C;
            std::fill(acc, acc + C, 0.f);
            for (std::int64_t p = 0; p < HW; ++p)
                for (std::int64_t ch = 0; ch < C; ++ch) {
                    const std::int64_t o = xi(n, ch, p / W, p % W);
                    acc[ch] += load(dy, o) * load(x, o);
                }
            for (std::int64_t ch = 0; ch < C; ++ch) store(ds, si(n, ch, 0, 0), acc[ch]);
        } else {
            for (std::int64_t ch = 0; ch < C; ++ch) {
                float acc = 0.f;
                for (std::int64_t p = 0; p < HW; ++p) {
                    const std::int64_t o = xi(n, ch, p / W, p % W);
                    acc += load(dy, o) * load(x, o);
                }
                store(ds, si(n, ch, 0, 0), acc);
            }
        }
    }
}

}  // namespace

void ChannelScaleLayer::backward(LayerContext& c) {
    if (ds_) {
        if (x_.get_desc().data_type() == memory::data_type::bf16)
            scale_gradient<std::uint16_t>(x_, dy_, ds_mem_, *x_index_, *s_index_, acc_);
        else
            scale_gradient<float>(x_, dy_, ds_mem_, *x_index_, *s_index_, acc_);
        zero_channel_padding(ds_mem_);
        c.count_backward_primitive();
    }
    if (dx_) {
        dx_prim_.execute(c.stream(), dx_args_);
        c.count_backward_primitive();
    }
}

// ---- concat along channels; backward slices dy into each input's gradient ----

memory::desc ConcatLayer::define(LayerContext& c) {
    // Inputs of mixed types (a bf16 branch beside a pooled fp32 input) are joined in bf16.
    auto type = memory::data_type::f32;
    for (int i = 0; i < c.inputs(); ++i)
        if (c.in_desc(i).data_type() == memory::data_type::bf16) type = memory::data_type::bf16;
    std::vector<memory::desc> srcs;
    memory::dim channels = 0;
    bool aligned = true;
    copies_.assign(c.inputs(), {});
    for (int i = 0; i < c.inputs(); ++i) {
        srcs.push_back(with_type(c.in_desc(i), type));
        copies_[i].define(c, i, srcs.back(), false);
        if (i > 0 && channels % 16) aligned = false;
        channels += c.in_desc(i).dims()[1];
    }
    memory::dims dims = srcs[0].dims();
    dims[1] = channels;
    // Slicing a blocked gradient needs channel offsets on block boundaries; else stay plain.
    if (c.plain_layouts() || !aligned)
        pd_ = concat::primitive_desc(plain_desc(dims, type), 1, srcs, c.eng(), c.attr());
    else
        pd_ = concat::primitive_desc(1, srcs, c.eng(), c.attr());
    c.scratchpad(pd_.scratchpad_desc());
    return pd_.dst_desc();
}

void ConcatLayer::bind(LayerContext& c) {
    cat_ = concat(pd_);
    args_ = {{DNNL_ARG_DST, c.output()}, {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    for (int i = 0; i < c.inputs(); ++i) args_[DNNL_ARG_MULTIPLE_SRC + i] = copies_[i].bind(c);
    if (!c.training()) return;
    memory::dim offset = 0;
    for (int i = 0; i < c.inputs(); ++i) {
        const memory::desc in = c.in_desc(i);
        if (c.input_needs_grad(i)) {
            memory::dims offsets = {0, offset, 0, 0};
            memory::desc view_md = pd_.dst_desc().submemory_desc(in.dims(), offsets);
            memory view(view_md, c.eng(), c.diff_dst().get_data_handle());
            slices_.push_back(reorder(view, c.diff_src(i)));
            slice_args_.push_back({{DNNL_ARG_FROM, view}, {DNNL_ARG_TO, c.diff_src(i)}});
        }
        offset += in.dims()[1];
    }
}

void ConcatLayer::forward(LayerContext& c) {
    for (const auto& copy : copies_) copy.run(c);
    cat_.execute(c.stream(), args_);
}

void ConcatLayer::backward(LayerContext& c) {
    for (size_t i = 0; i < slices_.size(); ++i) slices_[i].execute(c.stream(), slice_args_[i]);
    if (!slices_.empty()) c.count_backward_primitive();
}

}  // namespace deeper::runners::layers
