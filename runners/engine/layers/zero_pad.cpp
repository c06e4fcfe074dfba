// The option-A shortcut of He et al.: out[n, c, h, w] = in[n, c, h*s, w*s] for c < C_in, zero
// for the new channels. A copy per pixel and run of channels both layouts keep side by side
// (all of them in nhwc, 16 in nChw16c), else a loop over logical indices, so any layout works.
#include <algorithm>
#include <numeric>

#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

namespace {
// The length of the runs the channels come in side by side (C in nhwc, 16 in nChw16c, 1 in
// nchw): the largest r with every channel at offset ch % r from its run's first.
std::int64_t channel_run(const Indexer& ix, std::int64_t C) {
    const auto& t = ix.table(1);
    for (std::int64_t r = C; r > 1; --r) {
        bool side_by_side = true;
        for (std::int64_t ch = 0; ch < C && side_by_side; ++ch) side_by_side = t[ch] - t[ch - ch % r] == ch % r;
        if (side_by_side) return r;
    }
    return 1;
}
}  // namespace

ZeroPadLayer::ZeroPadLayer(const nets::Node& n)
    : stride_(std::get<nets::ZeroPadAttrs>(n.attrs).stride) {}

memory::desc ZeroPadLayer::define(LayerContext& c) {
    in_md_ = c.in_desc(0);
    const auto d = in_md_.dims();
    const auto& node = c.node();
    out_md_ = like(in_md_, {d[0], node.out.c, node.out.h, node.out.w});
    return out_md_;
}

void ZeroPadLayer::bind(LayerContext& c) {
    in_ = c.input(0);
    out_ = c.output();
    in_index_ = std::make_unique<Indexer>(in_md_);
    out_index_ = std::make_unique<Indexer>(out_md_);
    // one copy and one fill per pixel where each side keeps all its channels side by side
    const std::int64_t ci = in_md_.dims()[1], co = out_md_.dims()[1];
    const std::int64_t ri = channel_run(*in_index_, ci), ro = channel_run(*out_index_, co);
    run_ = ri == ci && ro == co ? std::max(ci, co) : std::gcd(ri, ro);
    if (c.training() && c.input_needs_grad(0)) {
        dy_ = c.diff_dst();
        dx_ = c.diff_src(0);
    }
}

namespace {
// Walks every logical (n, c, h, w) of `big` and calls f(big_offset, small_offset or -1).
template <class F>
void walk(const memory::desc& big, const Indexer& bi, const memory::desc& small, const Indexer& si,
          int stride, bool big_is_out, F f) {
    const auto bd = big.dims(), sd = small.dims();
    const std::int64_t N = bd[0], C = bd[1], H = bd[2], W = bd[3];
    auto at = [&](std::int64_t n, std::int64_t ch, std::int64_t h, std::int64_t w) {
        std::int64_t src = -1;
        if (big_is_out) {  // forward: out is the bigger in channels
            if (ch < sd[1]) src = si(n, ch, h * stride, w * stride);
        } else if (h % stride == 0 && w % stride == 0 && ch < sd[1]) {  // backward: dx is bigger
            src = si(n, ch, h / stride, w / stride);                  // spatially
        }
        f(bi(n, ch, h, w), src);
    };
    if (bi.channels_innermost()) {  // nChw16c, nhwc: channels innermost, contiguous
#pragma omp parallel for collapse(2) schedule(static)
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t h = 0; h < H; ++h)
                for (std::int64_t w = 0; w < W; ++w)
                    for (std::int64_t ch = 0; ch < C; ++ch) at(n, ch, h, w);
    } else {
#pragma omp parallel for collapse(2) schedule(static)
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t ch = 0; ch < C; ++ch)
                for (std::int64_t h = 0; h < H; ++h)
                    for (std::int64_t w = 0; w < W; ++w) at(n, ch, h, w);
    }
}

// Copies elements of type T (a float, or a bf16 as its bits: a zero is all zero bits in both),
// `run` channels at a time where both layouts keep them side by side (measured: the element
// walk took 11% of a bf16 resnet20 step in nhwc, 6% of an fp32 one in nChw16c).
template <class T>
void copy_or_zero(const memory& from, const memory& to, const memory::desc& big, const Indexer& bi,
                  const memory::desc& small, const Indexer& si, int stride, bool big_is_out, std::int64_t run) {
    const T* x = static_cast<const T*>(from.get_data_handle());
    T* y = static_cast<T*>(to.get_data_handle());
    if (run == 1) {
        walk(big, bi, small, si, stride, big_is_out,
             [&](std::int64_t o, std::int64_t i) { y[o] = i >= 0 ? x[i] : T(0); });
        return;
    }
    const auto bd = big.dims(), sd = small.dims();
    const std::int64_t N = bd[0], C = bd[1], H = bd[2], W = bd[3];
    const std::int64_t copied = std::min(C, sd[1]);  // forward: the input's channels; backward: all
    if (run >= C) {  // one copy and one fill per pixel (the loop over runs took 1.3x as long in bf16 nhwc)
#pragma omp parallel for collapse(2) schedule(static)
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t h = 0; h < H; ++h)
                for (std::int64_t w = 0; w < W; ++w) {
                    T* out = y + bi(n, 0, h, w);
                    std::int64_t done = 0;
                    if (big_is_out) {
                        std::copy_n(x + si(n, 0, h * stride, w * stride), copied, out);
                        done = copied;
                    } else if (h % stride == 0 && w % stride == 0) {
                        std::copy_n(x + si(n, 0, h / stride, w / stride), copied, out);
                        done = copied;
                    }
                    std::fill(out + done, out + C, T(0));
                }
        return;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t h = 0; h < H; ++h)
            for (std::int64_t w = 0; w < W; ++w) {
                // forward: every output pixel reads one; backward: only the strided pixels of dx get one
                const bool reads = big_is_out || (h % stride == 0 && w % stride == 0);
                const std::int64_t sh = big_is_out ? h * stride : h / stride, sw = big_is_out ? w * stride : w / stride;
                for (std::int64_t ch = 0; ch < C; ch += run) {
                    const std::int64_t len = std::min(run, C - ch);
                    const std::int64_t copy = reads ? std::clamp<std::int64_t>(copied - ch, 0, len) : 0;
                    T* out = y + bi(n, ch, h, w);
                    if (copy > 0) std::copy_n(x + si(n, ch, sh, sw), copy, out);
                    std::fill(out + copy, out + len, T(0));
                }
            }
}

}  // namespace

void ZeroPadLayer::forward(LayerContext&) {
    if (in_md_.data_type() == memory::data_type::bf16)
        copy_or_zero<std::uint16_t>(in_, out_, out_md_, *out_index_, in_md_, *in_index_, stride_, true, run_);
    else
        copy_or_zero<float>(in_, out_, out_md_, *out_index_, in_md_, *in_index_, stride_, true, run_);
    zero_channel_padding(out_);
}

void ZeroPadLayer::backward(LayerContext& c) {
    if (!dx_) return;
    if (in_md_.data_type() == memory::data_type::bf16)
        copy_or_zero<std::uint16_t>(dy_, dx_, in_md_, *in_index_, out_md_, *out_index_, stride_, false, run_);
    else
        copy_or_zero<float>(dy_, dx_, in_md_, *in_index_, out_md_, *out_index_, stride_, false, run_);
    zero_channel_padding(dx_);
    c.count_backward_primitive();
}

}  // namespace deeper::runners::layers
