#include "nets/blocks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "nets/error.hpp"

namespace deeper::nets {

std::optional<Op> activation_named(std::string_view a) {
    if (a == "relu") return Op::relu;
    if (a == "relu6") return Op::relu6;
    if (a == "swish" || a == "silu") return Op::swish;
    if (a == "sigmoid") return Op::sigmoid;
    if (a == "tanh") return Op::tanh;
    return std::nullopt;
}

Op activation_knob(const NetOptions& o, std::string_view net) {
    const std::string a = o.activation.value_or("relu");
    if (const auto op = activation_named(a)) return *op;
    throw InputError(fmt::format("{}: activation must be {}, got '{}'", net, kActivationNames, a));
}

int round_channels(double v, int divisor) {
    if (divisor <= 1) return std::max(1, int(v));
    int r = std::max(divisor, int(v + divisor / 2.0) / divisor * divisor);
    if (r < 0.9 * v) r += divisor;
    return r;
}

int scale_channels(int c, double width) { return std::max(1, int(std::lround(c * width))); }

int conv_bn_act(Builder& b, int x, int out, int k, int stride, int groups, Op act, float eps, std::string_view name,
                bool with_act) {
    auto s = b.scope(name);
    x = b.conv(x, out, k, stride, groups, false, "conv");
    x = b.batchnorm(x, "bn", eps);
    return with_act ? b.activation(x, act, "act") : x;
}

int squeeze_excite(Builder& b, int x, int reduced, Op act) {
    auto s = b.scope("se");
    const int c = b.shape(x).c;
    int y = b.global_avg_pool(x, "pool");
    y = b.conv(y, reduced, 1, 1, 1, true, "reduce");
    y = b.activation(y, act, "act");
    y = b.conv(y, c, 1, 1, 1, true, "expand");
    y = b.activation(y, Op::sigmoid, "gate");
    return b.channel_scale(x, y, "scale");
}

}  // namespace deeper::nets
