#include "nets/builder.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "nets/error.hpp"

namespace deeper::nets {

namespace {

// Output extent of a window sliding over `in` (PyTorch's rule, including ceil mode: the last
// window must start inside the input or its left padding).
int window_out(int in, int k, int stride, int pad_lo, int& pad_hi, bool ceil_mode) {
    int span = in + pad_lo + pad_hi - k;
    if (span < 0) return 0;
    int out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
    if (ceil_mode && (out - 1) * stride >= in + pad_lo) --out;
    // Make the right padding explicit so that engines need no ceil-mode flag.
    pad_hi = std::max(pad_hi, (out - 1) * stride + k - in - pad_lo);
    return out;
}
}  // namespace

Builder::Builder(std::string net_name, Shape input) {
    g_.name = std::move(net_name);
    if (input.c <= 0 || input.h <= 0 || input.w <= 0)
        throw InputError(fmt::format("{}: input shape {} must be positive", g_.name,
                                     shape_text(input)));
    push(Op::input, {}, input, NoAttrs{}, "input");
}

Builder::Scope Builder::scope(std::string_view part) {
    scopes_.emplace_back(part);
    return Scope(*this);
}

std::string Builder::full_name(std::string_view name) const {
    std::string s;
    for (const auto& p : scopes_) {
        s += p;
        s += '.';
    }
    s += name;
    return s;
}

void Builder::fail(std::string_view name, const std::string& what) const {
    throw InputError(fmt::format("{}: at {}: {}", g_.name, full_name(name), what));
}

int Builder::push(Op op, std::vector<int> inputs, Shape out, Attrs attrs, std::string_view name,
                  std::int64_t params, std::int64_t macs) {
    Node n;
    n.id = int(g_.nodes.size());
    n.name = full_name(name);
    if (!names_.insert(n.name).second)
        throw std::logic_error(fmt::format("{}: duplicate node name {}", g_.name, n.name));
    n.op = op;
    n.inputs = std::move(inputs);
    n.out = out;
    n.attrs = std::move(attrs);
    n.params = params;
    n.macs = macs;
    g_.nodes.push_back(std::move(n));
    return g_.nodes.back().id;
}

int Builder::conv(int x, int out_channels, int k, int stride, int groups, bool bias,
                  std::string_view name, int pad) {
    int p = pad >= 0 ? pad : k / 2;
    ConvAttrs a;
    a.out_channels = out_channels;
    a.kh = a.kw = k;
    a.stride = stride;
    a.pad_t = a.pad_l = a.pad_b = a.pad_r = p;
    a.groups = groups;
    a.bias = bias;
    return conv(x, a, name);
}

int Builder::conv(int x, const ConvAttrs& a0, std::string_view name) {
    ConvAttrs a = a0;
    const Shape in = shape(x);
    if (a.out_channels <= 0 || a.groups <= 0 || a.kh <= 0 || a.kw <= 0 || a.stride <= 0)
        fail(name, fmt::format("bad conv ({} channels, {}x{} kernel, stride {}, {} groups)",
                               a.out_channels, a.kh, a.kw, a.stride, a.groups));
    if (in.c % a.groups || a.out_channels % a.groups)
        fail(name, fmt::format("{} groups do not divide {} input and {} output channels",
                               a.groups, in.c, a.out_channels));
    Shape out{a.out_channels, window_out(in.h, a.kh, a.stride, a.pad_t, a.pad_b, false),
              window_out(in.w, a.kw, a.stride, a.pad_l, a.pad_r, false)};
    if (out.h <= 0 || out.w <= 0)
        fail(name, fmt::format("a {}x{} conv needs an input of at least {}x{}, got {}", a.kh,
                               a.kw, a.kh - a.pad_t - a.pad_b, a.kw - a.pad_l - a.pad_r,
                               shape_text(in)));
    std::int64_t per_out = std::int64_t(in.c / a.groups) * a.kh * a.kw;
    std::int64_t params = per_out * a.out_channels + (a.bias ? a.out_channels : 0);
    return push(Op::conv, {x}, out, a, name, params, out.elems() * per_out);
}

int Builder::batchnorm(int x, std::string_view name, float eps) {
    BatchNormAttrs a;
    a.eps = eps;
    return push(Op::batchnorm, {x}, shape(x), a, name, 2 * std::int64_t(shape(x).c));
}

void Builder::zero_init_scale(int bn) {
    Node& n = g_.nodes.at(bn);
    if (n.op != Op::batchnorm) throw std::logic_error("zero_init_scale() takes a batchnorm node");
    std::get<BatchNormAttrs>(n.attrs).zero_scale = true;
}

int Builder::activation(int x, Op kind, std::string_view name) {
    if (kind != Op::relu && kind != Op::relu6 && kind != Op::swish && kind != Op::sigmoid && kind != Op::tanh)
        throw std::logic_error("activation() takes relu, relu6, swish, sigmoid or tanh");
    return push(kind, {x}, shape(x), NoAttrs{}, name);
}

int Builder::pool(int x, Op op, int k, int stride, int pad, bool ceil_mode,
                  std::string_view name) {
    const Shape in = shape(x);
    PoolAttrs a;
    a.kh = a.kw = k;
    a.stride = stride;
    a.pad_t = a.pad_l = a.pad_b = a.pad_r = pad;
    if (k <= 0 || stride <= 0 || pad < 0 || 2 * pad > k)
        fail(name, fmt::format("bad pool ({}x{} kernel, stride {}, pad {})", k, k, stride, pad));
    Shape out{in.c, window_out(in.h, k, stride, a.pad_t, a.pad_b, ceil_mode),
              window_out(in.w, k, stride, a.pad_l, a.pad_r, ceil_mode)};
    if (out.h <= 0 || out.w <= 0)
        fail(name, fmt::format("a {}x{} pool with stride {} needs an input of at least {}x{}, "
                               "got {}",
                               k, k, stride, k - 2 * pad, k - 2 * pad, shape_text(in)));
    return push(op, {x}, out, a, name);
}

int Builder::max_pool(int x, int k, int stride, int pad, bool ceil_mode, std::string_view name) {
    return pool(x, Op::max_pool, k, stride, pad, ceil_mode, name);
}

int Builder::avg_pool(int x, int k, int stride, int pad, bool ceil_mode, std::string_view name) {
    return pool(x, Op::avg_pool, k, stride, pad, ceil_mode, name);
}

int Builder::global_avg_pool(int x, std::string_view name) {
    return push(Op::global_avg_pool, {x}, Shape{shape(x).c, 1, 1}, NoAttrs{}, name);
}

int Builder::lrn(int x, const LrnAttrs& a, std::string_view name) {
    if (a.size <= 0 || a.size % 2 == 0) fail(name, "LRN size must be odd and positive");
    return push(Op::lrn, {x}, shape(x), a, name);
}

int Builder::linear(int x, int out_features, bool bias, std::string_view name) {
    if (out_features <= 0) fail(name, fmt::format("bad linear width {}", out_features));
    std::int64_t in = shape(x).elems();
    LinearAttrs a{out_features, bias};
    return push(Op::linear, {x}, Shape{out_features, 1, 1}, a, name,
                in * out_features + (bias ? out_features : 0), in * out_features);
}

int Builder::dropout(int x, float rate, std::string_view name) {
    if (!(rate >= 0.f && rate < 1.f)) fail(name, fmt::format("dropout rate {} not in [0, 1)", rate));
    return push(Op::dropout, {x}, shape(x), DropAttrs{rate}, name);
}

int Builder::drop_connect(int x, float rate, std::string_view name) {
    if (!(rate >= 0.f && rate < 1.f))
        fail(name, fmt::format("drop-connect rate {} not in [0, 1)", rate));
    return push(Op::drop_connect, {x}, shape(x), DropAttrs{rate}, name);
}

int Builder::add(int a, int b, std::string_view name) {
    if (shape(a) != shape(b))
        fail(name, fmt::format("cannot add {} and {}", shape_text(shape(a)), shape_text(shape(b))));
    return push(Op::add, {a, b}, shape(a), NoAttrs{}, name);
}

int Builder::channel_scale(int x, int scale, std::string_view name) {
    const Shape s = shape(scale);
    if (s.c != shape(x).c || s.h != 1 || s.w != 1)
        fail(name, fmt::format("cannot scale {} by {}", shape_text(shape(x)), shape_text(s)));
    return push(Op::channel_scale, {x, scale}, shape(x), NoAttrs{}, name);
}

int Builder::concat(const std::vector<int>& xs, std::string_view name) {
    if (xs.empty()) fail(name, "concat of nothing");
    Shape out = shape(xs[0]);
    for (size_t i = 1; i < xs.size(); ++i) {
        const Shape& s = shape(xs[i]);
        if (s.h != out.h || s.w != out.w)
            fail(name, fmt::format("cannot concat {} with {}", shape_text(out), shape_text(s)));
        out.c += s.c;
    }
    return push(Op::concat, xs, out, NoAttrs{}, name);
}

int Builder::flatten(int x, std::string_view name) {
    return push(Op::flatten, {x}, Shape{int(shape(x).elems()), 1, 1}, NoAttrs{}, name);
}

int Builder::zero_pad_shortcut(int x, int out_channels, int stride, std::string_view name) {
    const Shape in = shape(x);
    if (out_channels < in.c || stride <= 0)
        fail(name, fmt::format("a zero-padded shortcut cannot go from {} to {} channels",
                               in.c, out_channels));
    Shape out{out_channels, (in.h + stride - 1) / stride, (in.w + stride - 1) / stride};
    return push(Op::zero_pad_shortcut, {x}, out, ZeroPadAttrs{out_channels, stride}, name);
}

void Builder::mark_output(int x, float loss_weight) {
    g_.outputs.push_back(x);
    g_.output_loss_weights.push_back(loss_weight);
}

Graph Builder::finish() {
    if (g_.outputs.empty()) mark_output(int(g_.nodes.size()) - 1);
    return std::move(g_);
}

}  // namespace deeper::nets
