// The option-A shortcut of He et al.: out[n, c, h, w] = in[n, c, h*s, w*s] for c < C_in, zero
// for the new channels. A copy per pixel where both layouts keep the channels side by side,
// else a loop over logical indices, so any layout works.
#include <algorithm>

#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

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

// True when channels 0..C-1 sit side by side at every pixel (nhwc, or nChw16c up to 16).
bool adjacent_channels(const Indexer& ix, std::int64_t C) {
    const auto& t = ix.table(1);
    for (std::int64_t ch = 0; ch < C; ++ch)
        if (t[ch] - t[0] != ch) return false;
    return true;
}

// Copies elements of type T (a float, or a bf16 as its bits: a zero is all zero bits in both).
// When both sides keep all their channels side by side (bf16 on AMX: nhwc), a pixel's channels
// are one copy and one fill (measured: the element walk took 11% of a bf16 resnet20 step).
template <class T>
void copy_or_zero(const memory& from, const memory& to, const memory::desc& big, const Indexer& bi,
                  const memory::desc& small, const Indexer& si, int stride, bool big_is_out) {
    const T* x = static_cast<const T*>(from.get_data_handle());
    T* y = static_cast<T*>(to.get_data_handle());
    const auto bd = big.dims(), sd = small.dims();
    const std::int64_t N = bd[0], C = bd[1], H = bd[2], W = bd[3];
    if (!adjacent_channels(bi, C) || !adjacent_channels(si, sd[1])) {
        walk(big, bi, small, si, stride, big_is_out,
             [&](std::int64_t o, std::int64_t i) { y[o] = i >= 0 ? x[i] : T(0); });
        return;
    }
    const std::int64_t copied = std::min(C, sd[1]);  // forward: the input's channels; backward: all
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
}

}  // namespace

void ZeroPadLayer::forward(LayerContext&) {
    if (in_md_.data_type() == memory::data_type::bf16)
        copy_or_zero<std::uint16_t>(in_, out_, out_md_, *out_index_, in_md_, *in_index_, stride_, true);
    else
        copy_or_zero<float>(in_, out_, out_md_, *out_index_, in_md_, *in_index_, stride_, true);
    zero_channel_padding(out_);
}

void ZeroPadLayer::backward(LayerContext& c) {
    if (!dx_) return;
    if (in_md_.data_type() == memory::data_type::bf16)
        copy_or_zero<std::uint16_t>(dy_, dx_, in_md_, *in_index_, out_md_, *out_index_, stride_, false);
    else
        copy_or_zero<float>(dy_, dx_, in_md_, *in_index_, out_md_, *out_index_, stride_, false);
    zero_channel_padding(dx_);
    c.count_backward_primitive();
}

}  // namespace deeper::runners::layers
