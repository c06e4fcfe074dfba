#include "support/reference_net.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace deeper::test {

using nets::Op;

namespace {

struct T {
    int n, c, h, w;
    std::vector<double>* v;
    double& at(int a, int b, int y, int x) { return (*v)[((std::size_t(a) * c + b) * h + y) * w + x]; }
};

const std::vector<double>& param(const ParamMap& p, const std::string& name) {
    auto it = p.find(name);
    if (it == p.end()) throw std::runtime_error("reference: no parameter " + name);
    return it->second;
}

}  // namespace

std::vector<std::vector<double>> reference_forward(const nets::Graph& g, const ParamMap& params,
                                                   const std::vector<double>& input, int N) {
    std::vector<std::vector<double>> act(g.nodes.size());
    act[0].assign(input.begin(), input.end());
    auto view = [&](int id) {
        const auto& s = g.nodes[id].out;
        return T{N, s.c, s.h, s.w, &act[id]};
    };
    for (size_t k = 1; k < g.nodes.size(); ++k) {
        const nets::Node& nd = g.nodes[k];
        act[k].assign(std::size_t(N) * nd.out.elems(), 0.0);
        T y = view(int(k));
        T x = view(nd.inputs[0]);
        switch (nd.op) {
            case Op::conv: {
                const auto& a = std::get<nets::ConvAttrs>(nd.attrs);
                const auto& w = param(params, nd.name + ".weight");
                const int icg = x.c / a.groups, ocg = a.out_channels / a.groups;
                for (int n = 0; n < N; ++n)
                    for (int oc = 0; oc < y.c; ++oc)
                        for (int oh = 0; oh < y.h; ++oh)
                            for (int ow = 0; ow < y.w; ++ow) {
                                double s = a.bias ? param(params, nd.name + ".bias")[oc] : 0.0;
                                const int grp = oc / ocg;
                                for (int ic = 0; ic < icg; ++ic)
                                    for (int i = 0; i < a.kh; ++i)
                                        for (int j = 0; j < a.kw; ++j) {
                                            int ih = oh * a.stride - a.pad_t + i, iw = ow * a.stride - a.pad_l + j;
                                            if (ih < 0 || iw < 0 || ih >= x.h || iw >= x.w) continue;
                                            s += w[((std::size_t(oc) * icg + ic) * a.kh + i) * a.kw + j] *
                                                 x.at(n, grp * icg + ic, ih, iw);
                                        }
                                y.at(n, oc, oh, ow) = s;
                            }
                break;
            }
            case Op::batchnorm: {
                const auto& gamma = param(params, nd.name + ".weight");
                const auto& beta = param(params, nd.name + ".bias");
                const double eps = std::get<nets::BatchNormAttrs>(nd.attrs).eps;
                for (int c = 0; c < x.c; ++c) {
                    double m = 0, v = 0, cnt = double(N) * x.h * x.w;
                    for (int n = 0; n < N; ++n)
                        for (int h = 0; h < x.h; ++h)
                            for (int w = 0; w < x.w; ++w) m += x.at(n, c, h, w);
                    m /= cnt;
                    for (int n = 0; n < N; ++n)
                        for (int h = 0; h < x.h; ++h)
                            for (int w = 0; w < x.w; ++w) v += (x.at(n, c, h, w) - m) * (x.at(n, c, h, w) - m);
                    v /= cnt;
                    for (int n = 0; n < N; ++n)
                        for (int h = 0; h < x.h; ++h)
                            for (int w = 0; w < x.w; ++w)
                                y.at(n, c, h, w) = (x.at(n, c, h, w) - m) / std::sqrt(v + eps) * gamma[c] + beta[c];
                }
                break;
            }
            case Op::relu:
            case Op::relu6:
            case Op::swish:
            case Op::sigmoid:
            case Op::tanh:
                for (size_t i = 0; i < act[k].size(); ++i) {
                    double v = (*x.v)[i];
                    double sig = 1.0 / (1.0 + std::exp(-v));
                    act[k][i] = nd.op == Op::relu    ? std::max(v, 0.0)
                                : nd.op == Op::relu6 ? std::clamp(v, 0.0, 6.0)
                                : nd.op == Op::swish ? v * sig
                                : nd.op == Op::tanh  ? std::tanh(v)
                                                     : sig;
                }
                break;
            case Op::max_pool:
            case Op::avg_pool: {
                const auto& a = std::get<nets::PoolAttrs>(nd.attrs);
                for (int n = 0; n < N; ++n)
                    for (int c = 0; c < y.c; ++c)
                        for (int oh = 0; oh < y.h; ++oh)
                            for (int ow = 0; ow < y.w; ++ow) {
                                double best = -1e300, sum = 0;
                                int cnt = 0;
                                for (int i = 0; i < a.kh; ++i)
                                    for (int j = 0; j < a.kw; ++j) {
                                        int ih = oh * a.stride - a.pad_t + i, iw = ow * a.stride - a.pad_l + j;
                                        if (ih < 0 || iw < 0 || ih >= x.h || iw >= x.w) continue;
                                        best = std::max(best, x.at(n, c, ih, iw));
                                        sum += x.at(n, c, ih, iw);
                                        ++cnt;
                                    }
                                y.at(n, c, oh, ow) = nd.op == Op::max_pool ? best
                                                     : a.exclude_pad       ? sum / cnt
                                                                           : sum / (a.kh * a.kw);
                            }
                break;
            }
            case Op::global_avg_pool:
                for (int n = 0; n < N; ++n)
                    for (int c = 0; c < x.c; ++c) {
                        double s = 0;
                        for (int h = 0; h < x.h; ++h)
                            for (int w = 0; w < x.w; ++w) s += x.at(n, c, h, w);
                        y.at(n, c, 0, 0) = s / (x.h * x.w);
                    }
                break;
            case Op::lrn: {
                const auto& a = std::get<nets::LrnAttrs>(nd.attrs);
                for (int n = 0; n < N; ++n)
                    for (int c = 0; c < x.c; ++c)
                        for (int h = 0; h < x.h; ++h)
                            for (int w = 0; w < x.w; ++w) {
                                double s = 0;
                                for (int d = c - a.size / 2; d <= c + a.size / 2; ++d)
                                    if (d >= 0 && d < x.c) s += x.at(n, d, h, w) * x.at(n, d, h, w);
                                y.at(n, c, h, w) = x.at(n, c, h, w) / std::pow(a.k + a.alpha / a.size * s, a.beta);
                            }
                break;
            }
            case Op::linear: {
                const auto& a = std::get<nets::LinearAttrs>(nd.attrs);
                const auto& w = param(params, nd.name + ".weight");
                const std::size_t in = g.nodes[nd.inputs[0]].out.elems();
                for (int n = 0; n < N; ++n)
                    for (int o = 0; o < a.out_features; ++o) {
                        double s = a.bias ? param(params, nd.name + ".bias")[o] : 0.0;
                        for (std::size_t i = 0; i < in; ++i) s += w[o * in + i] * (*x.v)[n * in + i];
                        act[k][std::size_t(n) * a.out_features + o] = s;
                    }
                break;
            }
            case Op::dropout:
            case Op::drop_connect:
            case Op::flatten: act[k] = *x.v; break;
            case Op::add:
                for (size_t i = 0; i < act[k].size(); ++i) act[k][i] = (*x.v)[i] + act[nd.inputs[1]][i];
                break;
            case Op::channel_scale: {
                T s = view(nd.inputs[1]);
                for (int n = 0; n < N; ++n)
                    for (int c = 0; c < x.c; ++c)
                        for (int h = 0; h < x.h; ++h)
                            for (int w = 0; w < x.w; ++w) y.at(n, c, h, w) = x.at(n, c, h, w) * s.at(n, c, 0, 0);
                break;
            }
            case Op::concat: {
                int c0 = 0;
                for (int in : nd.inputs) {
                    T s = view(in);
                    for (int n = 0; n < N; ++n)
                        for (int c = 0; c < s.c; ++c)
                            for (int h = 0; h < s.h; ++h)
                                for (int w = 0; w < s.w; ++w) y.at(n, c0 + c, h, w) = s.at(n, c, h, w);
                    c0 += s.c;
                }
                break;
            }
            case Op::zero_pad_shortcut: {
                const int st = std::get<nets::ZeroPadAttrs>(nd.attrs).stride;
                for (int n = 0; n < N; ++n)
                    for (int c = 0; c < x.c; ++c)
                        for (int h = 0; h < y.h; ++h)
                            for (int w = 0; w < y.w; ++w) y.at(n, c, h, w) = x.at(n, c, h * st, w * st);
                break;
            }
            case Op::input: break;
        }
    }
    return act;
}

}  // namespace deeper::test
