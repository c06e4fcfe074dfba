// Convolution (grouped and depthwise included): direct algorithm, layouts chosen by oneDNN.
#include <algorithm>
#include <cstdlib>
#include <string>

#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

namespace {
using namespace dnnl;
}

ConvLayer::ConvLayer(const nets::Node& n) : node_(n), a_(std::get<nets::ConvAttrs>(n.attrs)) {}

namespace {

// Which algorithm each pass uses. Measured on the 2-core AVX-512 machines (oneDNN 2.6, batch
// 128, fp32, 3x3 stride 1): Winograd F(4x4, 3x3) runs 1.7-2.1x faster than direct at 32 and 64
// channels in all three passes; at 16 channels only backward-weights gains (1.5x) while
// backward-data loses (0.7x). A rule, not a timing, so that runs stay bit-reproducible.
// oneDNN has Winograd for fp32 only.
struct Algorithms {
    algorithm fwd, bwd_data, bwd_weights;
};

// A measured form (the tuner's plan) takes the place of the rule; Winograd still only where
// oneDNN has it.
Algorithms choose(const nets::ConvAttrs& a, memory::dim in_channels, ConvAlgorithm want, bool plain,
                  memory::data_type dt, const ConvForm* form) {
    const bool eligible = a.kh == 3 && a.kw == 3 && a.stride == 1 && a.groups == 1 && !plain &&
                          dt == memory::data_type::f32;
    const auto direct = algorithm::convolution_direct, wino = algorithm::convolution_winograd;
    if (!eligible || want == ConvAlgorithm::direct) return {direct, direct, direct};
    if (form) return {form->fwd, form->bwd_data, form->bwd_weights};
    if (want == ConvAlgorithm::winograd) return {wino, wino, wino};
    const memory::dim c = std::min<memory::dim>(in_channels, a.out_channels);
    return {c >= 32 ? wino : direct, c >= 32 ? wino : direct, c >= 16 ? wino : direct};
}

// The taps of one kernel axis that ever meet a real input pixel: [first, first + size).
// A kernel larger than its map (5x5 depthwise on the 1x1 maps of a 32x32 EfficientNet) has
// taps that only ever meet padding; they contribute nothing and get a zero gradient.
struct AxisCrop {
    int first = 0, size = 0, pad_before = 0, pad_after = 0;
};

AxisCrop crop_axis(int in, int out, int stride, int kernel, int pad_before) {
    AxisCrop c;
    c.first = std::max(0, pad_before - (out - 1) * stride);
    const int last = std::min(kernel - 1, in - 1 + pad_before);
    c.size = last - c.first + 1;
    c.pad_before = pad_before - c.first;
    c.pad_after = (out - 1) * stride + c.size - in - c.pad_before;
    return c;
}

}  // namespace

// The fixed rules below are what a conv does when the tuner's plan does not name it (`--tune
// off`, inference-only engines, tests): each conv's form is otherwise measured on the machine
// (runners/engine/tuner.hpp) and given through LayerContext::conv_form().
//
// The type this conv computes in under bf16 precision, chosen by measurement on Sapphire
// Rapids with AMX (oneDNN 2.6, 2 threads, batch 128), in ms for forward / backward-data /
// backward-weights inside resnet20, vgg-a and efficientnet-b0 training steps (ONEDNN_VERBOSE;
// the bf16 rows with bf16 weight gradients, since measured as fast in fp32, see below):
//   3x3 16->16 on 32x32:    bf16 0.95 / 0.73 / 1.27   fp32 3.4 / 3.4 / 2.9 (direct, Winograd)
//   3x3 64->64 on 8x8:      bf16 0.84 / 1.40 / 3.38   fp32 1.5 / 1.6 / 1.7 (Winograd)
//   3x3 256->256 on 8x8:    bf16   13 /   20 /   39   fp32  21 /  20 /  19 (Winograd)
//   3x3 512->512 on 4x4:    bf16   30 /   49 /   85   fp32  22 /  22 /  22 (Winograd)
//   1x1 192->1152 on 2x2:   backward-weights 4.8 ms in bf16 (47 GFLOP/s)
// AMX's kernels are 5-9x faster than fp32 when their data sits in L2 (64->64 on 8x8 alone:
// 0.18 / 0.28 / 1.4 ms) and lose most of that inside a net. The batch norm after a conv whose
// channels are not a multiple of 16 gets only oneDNN's generic NHWC kernel in bf16
// (128x40x8x8: 5-7 ms, against 0.12 / 0.21 ms forward / backward in fp32). So these stay fp32
// unless they run as im2col + matmul (runs_as_gemm, below): 3x3 stride-1 convs of 128+
// channels (Winograd), output maps under 8x8, channel counts not a multiple of 16, and
// depthwise convs (no AMX kernel; the AVX512-BF16 one is slower than fp32). Weight gradients
// are fp32 in either case: as fast on AMX as bf16 ones (3x3 16->16 on 32x32 alone: 0.87 vs
// 0.96 ms; 64->64 on 8x8: 1.38 vs 1.40).
// Without AMX every conv stays fp32. Right on an Intel Xeon without AMX (measured there,
// training img/s with every conv in bf16 against this rule: resnet20 470 vs 705, vgg-a 162 vs
// 306), wrong on an AMD Zen 5, whose AVX512-BF16 convs run 1.75-2.2x faster than fp32 alone
// (issue #25: hence the tuner, which measures the choice on the machine).
memory::data_type ConvLayer::data_type(const LayerContext& c, memory::dim in_channels) const {
    if (const ConvForm* f = c.conv_form()) return c.precision() == Precision::bf16 ? f->type : memory::data_type::f32;
    const bool depthwise = a_.groups > 1 && a_.groups == in_channels && a_.groups == a_.out_channels;
    const bool small_map = node_.out.h * node_.out.w < 64;
    const bool odd_channels = a_.out_channels % 16 != 0;
    const bool winograd_wins = a_.kh == 3 && a_.kw == 3 && a_.stride == 1 && a_.groups == 1 &&
                               std::min<memory::dim>(in_channels, a_.out_channels) >= 128 &&
                               !c.plain_layouts() && c.conv_algorithm() != ConvAlgorithm::direct;
    const bool faster_in_fp32 = winograd_wins || small_map || odd_channels || !cpu_has_amx();
    const bool fp32 = depthwise || (c.keep_fp32_where_faster() && faster_in_fp32);
    return fp32 ? memory::data_type::f32 : compute_type(c.precision());
}

// Which convs run as im2col + matmul (GemmConv): under bf16, those with output maps of 8x8 or
// less and 128+ channels in and out, where oneDNN 2.6's AMX convolutions lose most of their
// speed and its AMX matmul does not (these ran fp32 before: vgg-a trains 1.7x faster in bf16).
// Measured alone on Sapphire Rapids (2 threads, batch 128), ms for forward / backward-data /
// backward-weights, the gathering of the columns not included:
//   3x3 128->256 on 8x8:  conv bf16  1.4 /  1.7 /  5.4   matmul 1.3 / 2.7 / 1.9   fp32 Winograd  5.8 /  5.9 /  6.2
//   3x3 256->256 on 8x8:  conv bf16  3.1 /  4.5 / 11.1   matmul 1.9 / 8.3 / 5.0   fp32 Winograd 13.2 / 11.2 / 13.1
//   3x3 512->512 on 4x4:  conv bf16 11.0 / 12.8 / 33.7   matmul 1.7 / 4.1 / 4.6   fp32 Winograd 14.3 / 14.2 / 13.8
//   3x3 512->512 on 2x2:  conv bf16  2.0 / 10.0 / 29.5   matmul 0.3 / 0.3 / 0.5 (a quarter of the batch)
//   1x1 192->1152 on 2x2: conv bf16 backward-weights 4.8 (in a net), matmul 0.09
// At 16x16 the conv keeps up (64->128: conv 1.0 / 1.2 / 3.5, matmul 1.2 / 2.6 / 2.4), and so it
// does at 64 channels inside resnet20 (64->64 on 8x8: conv 0.21 / 0.29 / 1.09, matmul 0.27 /
// 0.73 / 1.22 plus the gathering: the step was 20% slower). Grouped convs stay convs; so do
// channel counts that are not a multiple of 16 (see data_type). AMX only: without it the bf16
// matmul is slow too (vgg-a with ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16: 214 img/s, 442 without).
// ConvAlgorithm::gemm asks for it wherever it applies, in either precision (tests, A/B checks).
bool ConvLayer::runs_as_gemm(const LayerContext& c, memory::dim in_channels) const {
    if (a_.groups != 1 || c.plain_layouts()) return false;
    if (c.conv_algorithm() == ConvAlgorithm::gemm) return true;
    if (const ConvForm* f = c.conv_form()) return f->gemm;
    return c.conv_algorithm() == ConvAlgorithm::automatic && c.gemm_convs() && c.precision() == Precision::bf16 &&
           cpu_has_amx() &&
           node_.out.h * node_.out.w <= 64 && std::min<int>(int(in_channels), a_.out_channels) >= 128 &&
           a_.out_channels % 16 == 0;
}

// The type a conv on the engine's loops around matmul computes in: the plan's, or where an
// algorithm is asked for by name, the precision's.
memory::data_type ConvLayer::matmul_conv_type(const LayerContext& c, memory::dim in_channels) const {
    return c.conv_form() ? data_type(c, in_channels) : compute_type(c.precision());
}

// Which convs run as the engine's Winograd F(2x2, 3x3) (WinogradConv): where the tuner's plan
// names it (a bf16 candidate: oneDNN 2.6 has no bf16 Winograd) or ConvAlgorithm::winograd_f2
// asks for it; the fixed rules never pick it.
bool ConvLayer::runs_as_winograd_f2(const LayerContext& c, memory::dim in_channels) const {
    if (!WinogradConv::applies(a_, matmul_conv_type(c, in_channels)) || c.plain_layouts()) return false;
    if (c.conv_algorithm() == ConvAlgorithm::winograd_f2) return true;
    const ConvForm* f = c.conv_form();
    return f && f->winograd_f2;
}

void ConvLayer::add_params(LayerContext& c, memory::dim in_channels, const memory::desc& plain,
                           const memory::desc& internal) {
    ParamInfo w;
    w.name = node_.name + ".weight";
    w.dims = {a_.out_channels, int(in_channels) / a_.groups, a_.kh, a_.kw};
    w.plain = plain;
    w.internal = internal;
    w.init = Init::kaiming_normal_fan_out;
    w.fan = a_.out_channels * a_.kh * a_.kw;
    w.matrix = true;
    weight_ = c.param(w);
    if (a_.bias) {
        ParamInfo b;
        b.name = node_.name + ".bias";
        b.dims = {a_.out_channels};
        b.internal = b.plain = plain_desc({a_.out_channels});
        bias_ = c.param(b);
    }
}

memory::desc ConvLayer::define(LayerContext& c) {
    const memory::desc in = c.in_desc(0);
    const auto id = in.dims();
    const memory::dim N = id[0], IC = id[1];
    const bool gemm = runs_as_gemm(c, IC);
    if (gemm || runs_as_winograd_f2(c, IC)) {
        const memory::data_type dt = matmul_conv_type(c, IC);
        const memory::dims w_dims = {a_.out_channels, IC, a_.kh, a_.kw};
        // fp32 master weights as {kh, kw, in, out} (hwio): im2col's K x OC matrix, so the
        // weight gradient lands in place and one reorder per step makes the forward's copy;
        // Winograd's transforms read and write each tap's in x out channels contiguously
        add_params(c, IC, plain_desc(w_dims), MatmulConv::master_desc(w_dims));
        train_weights_ = c.training() && c.trainable(weight_);
        src_copy_.define(c, 0, MatmulConv::src_desc(id, dt), train_weights_);
        if (gemm) matmul_conv_ = std::make_unique<GemmConv>(a_, node_.out.h, node_.out.w);
        else matmul_conv_ = std::make_unique<WinogradConv>(a_, node_.out.h, node_.out.w);
        return matmul_conv_->define(c, id, dt, weight_, bias_, train_weights_);
    }
    const memory::dims dst_dims = {N, a_.out_channels, node_.out.h, node_.out.w};
    auto weight_dims = [&](int kh, int kw) {
        return a_.groups > 1 ? memory::dims{a_.groups, a_.out_channels / a_.groups, IC / a_.groups, kh, kw}
                             : memory::dims{a_.out_channels, IC, kh, kw};
    };
    // oneDNN runs the kernel cut to the taps that meet the map (`k`): exact, and for a kernel
    // larger than its map it avoids oneDNN 2.6's gemm fallback (measured: 5x5 depthwise on 1x1
    // maps took 60% of the oneDNN time of a half-width 32x32 EfficientNet-B0 step). The
    // parameter keeps its full shape.
    nets::ConvAttrs k = a_;
    const AxisCrop ch = crop_axis(int(id[2]), node_.out.h, a_.stride, a_.kh, a_.pad_t);
    const AxisCrop cw = crop_axis(int(id[3]), node_.out.w, a_.stride, a_.kw, a_.pad_l);
    const bool croppable = ch.size > 0 && cw.size > 0 && ch.pad_after >= 0 && cw.pad_after >= 0;
    if (c.crop_kernels() && croppable && (ch.size < a_.kh || cw.size < a_.kw)) {
        crop_ = {ch.first, cw.first};
        k.kh = ch.size, k.kw = cw.size;
        k.pad_t = ch.pad_before, k.pad_b = ch.pad_after, k.pad_l = cw.pad_before, k.pad_r = cw.pad_after;
    }
    const memory::dims w_dims = weight_dims(k.kh, k.kw), full_w_dims = weight_dims(a_.kh, a_.kw);
    const memory::dims strides = {k.stride, k.stride}, pad_l = {k.pad_t, k.pad_l}, pad_r = {k.pad_b, k.pad_r};
    const bool plain = c.plain_layouts();
    const memory::data_type dt = data_type(c, IC);
    const memory::desc src_md = plain ? with_type(in, dt) : any_desc(id, dt);
    const memory::desc w_md = plain ? plain_desc(w_dims, dt) : any_desc(w_dims, dt);
    const memory::desc dst_md = plain ? plain_desc(dst_dims, dt) : any_desc(dst_dims, dt);
    const memory::desc b_md = plain_desc({a_.out_channels});  // bias and weight gradients: fp32
    const auto prop = c.training() ? prop_kind::forward_training : prop_kind::forward_inference;
    const Algorithms algs = choose(k, IC, c.conv_algorithm(), plain, dt, c.conv_form());

    // A forward descriptor for an algorithm and activation layouts; Winograd may decline a
    // shape, and then the pass falls back to direct.
    auto fwd_desc = [&](algorithm alg, const memory::desc& s, const memory::desc& d) {
        return a_.bias ? convolution_forward::desc(prop, alg, s, w_md, b_md, d, strides, pad_l, pad_r)
                       : convolution_forward::desc(prop, alg, s, w_md, d, strides, pad_l, pad_r);
    };
    auto make_fwd = [&](algorithm alg, const memory::desc& s, const memory::desc& d) {
        auto pd = convolution_forward::primitive_desc(fwd_desc(alg, s, d), c.attr(), c.eng(), true);
        if (!pd) pd = convolution_forward::primitive_desc(
                     fwd_desc(algorithm::convolution_direct, s, d), c.attr(), c.eng());
        return pd;
    };
    fwd_pd_ = make_fwd(algs.fwd, src_md, dst_md);
    c.scratchpad(fwd_pd_.scratchpad_desc());
    const memory::desc src = fwd_pd_.src_desc(), dst = fwd_pd_.dst_desc();

    // fp32 master weights: in the forward's layout when it computes in fp32, else plain (the
    // bf16 copies are made from it once per step)
    add_params(c, IC, plain_desc(full_w_dims), cropped() || dt != memory::data_type::f32 ? plain_desc(full_w_dims)
                                                                                          : fwd_pd_.weights_desc());
    train_weights_ = c.training() && c.trainable(weight_);
    src_copy_.define(c, 0, src, train_weights_);
    if (!c.training()) return dst;
    // Backward passes pin the forward's activation layouts, so nothing is reordered between.
    auto is_ref = [](const auto& pd) { return std::string(pd.impl_info_str()).rfind("ref", 0) == 0; };
    if (train_weights_) {
        auto make = [&](algorithm alg, const memory::desc& s, const memory::desc& d) {
            auto hint = make_fwd(alg, s, d);
            auto desc = a_.bias ? convolution_backward_weights::desc(alg, s, any_desc(w_dims), b_md,
                                                                     d, strides, pad_l, pad_r)
                                : convolution_backward_weights::desc(alg, s, any_desc(w_dims), d,
                                                                     strides, pad_l, pad_r);
            return convolution_backward_weights::primitive_desc(desc, c.attr(), c.eng(), hint, true);
        };
        bwd_w_pd_ = make(algs.bwd_weights, src, dst);
        if (!bwd_w_pd_) bwd_w_pd_ = make(algorithm::convolution_direct, src, dst);
        // Depthwise shapes that leave only the reference kernel get the engine's own loop
        // (measured: oneDNN's other choice, gemm on free layouts, is 10x slower than the loop).
        const bool depthwise = a_.groups == IC && a_.groups == a_.out_channels && !a_.bias;
        own_dw_bwd_w_ = depthwise && is_ref(bwd_w_pd_);  // the loop takes the full kernel
        if (is_ref(bwd_w_pd_) && !plain && !own_dw_bwd_w_) {
            auto free = make(algorithm::convolution_direct, any_desc(id, dt), any_desc(dst_dims, dt));
            if (free && !is_ref(free)) {
                bwd_w_pd_ = free;
                if (free.src_desc() != src) bwd_src_buf_ = c.buffer(free.src_desc(), LayerContext::Life::bwd);
                if (free.diff_dst_desc() != dst) bwd_w_dy_buf_ = c.buffer(free.diff_dst_desc(), LayerContext::Life::bwd);
            }
        }
        c.scratchpad(bwd_w_pd_.scratchpad_desc());
    }
    if (c.input_needs_grad(0)) {
        auto make = [&](algorithm alg, const memory::desc& s, const memory::desc& d) {
            auto hint = make_fwd(alg, s, d);
            convolution_backward_data::desc desc(alg, s, any_desc(w_dims, dt), d, strides, pad_l, pad_r);
            return convolution_backward_data::primitive_desc(desc, c.attr(), c.eng(), hint, true);
        };
        bwd_d_pd_ = make(algs.bwd_data, src, dst);
        if (!bwd_d_pd_) bwd_d_pd_ = make(algorithm::convolution_direct, src, dst);
        if (is_ref(bwd_d_pd_) && !plain) {
            auto free = make(algorithm::convolution_direct, any_desc(id, dt), any_desc(dst_dims, dt));
            if (free && !is_ref(free)) {
                bwd_d_pd_ = free;
                if (free.diff_dst_desc() != dst) bwd_d_dy_buf_ = c.buffer(free.diff_dst_desc(), LayerContext::Life::bwd);
            }
        }
        c.scratchpad(bwd_d_pd_.scratchpad_desc());
        c.set_diff_src_desc(0, bwd_d_pd_.diff_src_desc());
    }
    return dst;
}

void ConvLayer::bind(LayerContext& c) {
    memory src = src_copy_.bind(c);
    if (matmul_conv_) return matmul_conv_->bind(c, src);
    fwd_ = convolution_forward(fwd_pd_);
    memory fwd_w, bwd_d_w;
    if (cropped()) {
        full_w_ = c.weights(weight_, c.store().info(weight_).plain);
        fwd_w = bind_cropped_weights(c, fwd_pd_.weights_desc());
        if (bwd_d_pd_) bwd_d_w = bind_cropped_weights(c, bwd_d_pd_.weights_desc());
    } else {
        fwd_w = c.weights(weight_, fwd_pd_.weights_desc());
        if (bwd_d_pd_) bwd_d_w = c.weights(weight_, bwd_d_pd_.weights_desc());
    }
    fwd_args_ = {{DNNL_ARG_SRC, src},
                 {DNNL_ARG_WEIGHTS, fwd_w},
                 {DNNL_ARG_DST, c.output()},
                 {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    if (bias_ >= 0) fwd_args_[DNNL_ARG_BIAS] = c.param_memory(bias_);
    if (own_dw_bwd_w_) {
        own_dw_.emplace(a_, src, c.diff_dst(), c.grad_memory(weight_, c.store().info(weight_).plain));
    } else if (bwd_w_pd_) {
        bwd_w_ = convolution_backward_weights(bwd_w_pd_);
        memory w_src = src, w_dy = c.diff_dst();
        if (bwd_src_buf_ >= 0) {
            w_src = c.buffer_memory(bwd_src_buf_, bwd_w_pd_.src_desc());
            bwd_w_prep_.push_back({reorder(src, w_src), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, w_src}}});
        }
        if (bwd_w_dy_buf_ >= 0) {
            w_dy = c.buffer_memory(bwd_w_dy_buf_, bwd_w_pd_.diff_dst_desc());
            bwd_w_prep_.push_back({reorder(c.diff_dst(), w_dy), {{DNNL_ARG_FROM, c.diff_dst()}, {DNNL_ARG_TO, w_dy}}});
        }
        memory dw;
        if (cropped()) {
            full_grad_ = c.grad_memory(weight_, c.store().info(weight_).plain);
            cropped_grad_plain_ = memory(plain_desc(bwd_w_pd_.diff_weights_desc().dims()), c.eng());
            dw = cropped_grad_plain_;
            if (bwd_w_pd_.diff_weights_desc() != cropped_grad_plain_.get_desc()) {
                dw = memory(bwd_w_pd_.diff_weights_desc(), c.eng());
                grad_to_plain_ = {reorder(dw, cropped_grad_plain_), {{DNNL_ARG_FROM, dw}, {DNNL_ARG_TO, cropped_grad_plain_}}};
            }
        } else {
            dw = c.grad_memory(weight_, bwd_w_pd_.diff_weights_desc());
        }
        bwd_w_args_ = {{DNNL_ARG_SRC, w_src},
                       {DNNL_ARG_DIFF_DST, w_dy},
                       {DNNL_ARG_DIFF_WEIGHTS, dw},
                       {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
        if (bias_ >= 0)
            bwd_w_args_[DNNL_ARG_DIFF_BIAS] = c.grad_memory(bias_, bwd_w_pd_.diff_bias_desc());
    }
    if (bwd_d_pd_) {
        bwd_d_ = convolution_backward_data(bwd_d_pd_);
        memory d_dy = c.diff_dst();
        if (bwd_d_dy_buf_ >= 0) {
            d_dy = c.buffer_memory(bwd_d_dy_buf_, bwd_d_pd_.diff_dst_desc());
            bwd_d_prep_.push_back({reorder(c.diff_dst(), d_dy), {{DNNL_ARG_FROM, c.diff_dst()}, {DNNL_ARG_TO, d_dy}}});
        }
        bwd_d_args_ = {{DNNL_ARG_DIFF_DST, d_dy},
                       {DNNL_ARG_WEIGHTS, bwd_d_w},
                       {DNNL_ARG_DIFF_SRC, c.diff_src(0)},
                       {DNNL_ARG_SCRATCHPAD, c.scratchpad_memory()}};
    }
}

namespace {

// Copies the taps [kh0, kh0 + kh) x [kw0, kw0 + kw) between a full plain kernel and a cropped
// one (both {rows, KH, KW} with rows = out x in channels per group); to_full also zeroes the
// taps outside the crop (their gradient).
void copy_taps(float* full, float* crop, std::int64_t rows, int KH, int KW, int kh0, int kw0, int kh, int kw,
               bool to_full) {
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
        float* f = full + r * KH * KW;
        float* c = crop + r * kh * kw;
        if (to_full) std::fill(f, f + KH * KW, 0.0f);
        for (int i = 0; i < kh; ++i)
            for (int j = 0; j < kw; ++j) {
                float& fv = f[(kh0 + i) * KW + kw0 + j];
                float& cv = c[i * kw + j];
                if (to_full) fv = cv;
                else cv = fv;
            }
    }
}

std::int64_t kernel_rows(const memory::dims& d) {  // all dims but the last two
    std::int64_t r = 1;
    for (std::size_t i = 0; i + 2 < d.size(); ++i) r *= d[i];
    return r;
}

}  // namespace

memory ConvLayer::bind_cropped_weights(LayerContext& c, const memory::desc& want) {
    if (!cropped_plain_) cropped_plain_ = memory(plain_desc(want.dims()), c.eng());
    if (want == cropped_plain_.get_desc()) return cropped_plain_;
    memory m(want, c.eng());
    weight_reorders_.push_back({reorder(cropped_plain_, m), {{DNNL_ARG_FROM, cropped_plain_}, {DNNL_ARG_TO, m}}});
    return m;
}

void ConvLayer::forward(LayerContext& c) {
    src_copy_.run(c);
    if (matmul_conv_) return matmul_conv_->forward(c);
    if (cropped() && cut_version_ != c.store().version()) {  // cut again after the weights changed
        cut_version_ = c.store().version();
        const auto d = cropped_plain_.get_desc().dims();
        copy_taps(static_cast<float*>(full_w_.get_data_handle()), static_cast<float*>(cropped_plain_.get_data_handle()),
                  kernel_rows(d), a_.kh, a_.kw, crop_[0], crop_[1], int(d[d.size() - 2]), int(d.back()), false);
        for (auto& [p, args] : weight_reorders_) p.execute(c.stream(), args);
    }
    fwd_.execute(c.stream(), fwd_args_);
}

void ConvLayer::backward(LayerContext& c) {
    if (matmul_conv_) return matmul_conv_->backward(c);
    if (own_dw_bwd_w_) {
        own_dw_->run();
        c.finish_grads();
        c.count_backward_primitive();
    } else if (bwd_w_pd_) {
        for (auto& [p, args] : bwd_w_prep_) p.execute(c.stream(), args);
        bwd_w_.execute(c.stream(), bwd_w_args_);
        if (cropped()) {
            if (grad_to_plain_.first) grad_to_plain_.first.execute(c.stream(), grad_to_plain_.second);
            const auto d = cropped_grad_plain_.get_desc().dims();
            copy_taps(static_cast<float*>(full_grad_.get_data_handle()),
                      static_cast<float*>(cropped_grad_plain_.get_data_handle()), kernel_rows(d), a_.kh, a_.kw,
                      crop_[0], crop_[1], int(d[d.size() - 2]), int(d.back()), true);
        }
        c.finish_grads();
        c.count_backward_primitive();
    }
    if (bwd_d_pd_) {
        for (auto& [p, args] : bwd_d_prep_) p.execute(c.stream(), args);
        bwd_d_.execute(c.stream(), bwd_d_args_);
        c.count_backward_primitive();
    }
}

}  // namespace deeper::runners::layers
