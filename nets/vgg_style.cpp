#include "nets/vgg_style.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "nets/builder.hpp"
#include "nets/error.hpp"

namespace deeper::nets {

namespace {

struct ConvToken {
    int kernel = 3, channels = 0;
};

// 1 .. 65536, as the block DSL takes (a wider layer is a typo, and its counts would overflow).
bool parse_positive(std::string_view s, int& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size() && out > 0 && out <= (1 << 16);
}

// "64" or "conv3-64"; false for pool/LRN tokens, throws for anything malformed.
bool parse_conv_token(const std::string& t, ConvToken& c) {
    if (t == "M" || t == "LRN") return false;
    if (parse_positive(t, c.channels)) return true;
    if (t.rfind("conv", 0) == 0) {
        auto dash = t.find('-');
        if (dash != std::string::npos &&
            parse_positive(std::string_view(t).substr(4, dash - 4), c.kernel) &&
            parse_positive(std::string_view(t).substr(dash + 1), c.channels) && c.kernel % 2 == 1)
            return true;
    }
    throw InputError(fmt::format(
        "layer '{}': expected a filter count from 1 to 65536 (64), convK-C with an odd K (conv1-256), M or LRN",
        t));
}

}  // namespace

void check_vgg_token(const std::string& token) {
    ConvToken c;
    parse_conv_token(token, c);
}

Graph build_vgg_net(const VggNetDef& d) {
    if (!(d.width > 0)) throw InputError(fmt::format("{}: width must be positive", d.name));
    Builder b(d.name, Shape{d.in_channels, d.resolution, d.resolution});
    int x = b.input();
    int stage = 1, conv_in_stage = 0;
    for (const auto& t : d.layers) {
        auto s = b.scope(fmt::format("stage{}", stage));
        ConvToken c;
        if (!parse_conv_token(t, c)) {
            if (t == "LRN") x = b.lrn(x);
            else {
                x = b.max_pool(x, 2, 2);
                ++stage;
                conv_in_stage = 0;
            }
            continue;
        }
        ++conv_in_stage;
        int out = std::max(1, int(std::lround(c.channels * d.width)));
        x = b.conv(x, out, c.kernel, 1, 1, !d.batchnorm, fmt::format("conv{}", conv_in_stage));
        if (d.batchnorm) x = b.batchnorm(x, fmt::format("bn{}", conv_in_stage));
        x = b.activation(x, d.activation, fmt::format("{}{}", op_name(d.activation), conv_in_stage));
    }
    auto s = b.scope("head");
    x = b.flatten(x);
    for (size_t i = 0; i < d.hidden.size(); ++i) {
        x = b.linear(x, d.hidden[i], true, fmt::format("fc{}", i + 1));
        x = b.activation(x, d.activation, fmt::format("{}{}", op_name(d.activation), i + 1));
        if (d.dropout > 0) x = b.dropout(x, float(d.dropout), fmt::format("dropout{}", i + 1));
    }
    x = b.linear(x, d.classes, true, fmt::format("fc{}", d.hidden.size() + 1));
    b.mark_output(x);
    return b.finish();
}

}  // namespace deeper::nets
