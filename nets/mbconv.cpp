#include "nets/mbconv.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "nets/blocks.hpp"
#include "nets/builder.hpp"
#include "nets/error.hpp"

namespace deeper::nets {

namespace {

int block(Builder& b, int x, const BlockArgs& a, int out, int stride, double drop_rate,
          const MbconvNetDef& d) {
    const int in = b.shape(x).c;
    const Op act = d.activation;
    int y = x;
    bool skip = stride == 1 && in == out && !a.noskip;
    if (a.type == "id") {  // no op where the shape is kept; never a residual around itself
        if (stride == 1 && in == out) return x;
        return conv_bn_act(b, x, out, 1, stride, 1, act, d.bn_eps, "down", false);
    }
    if (a.type == "cn") {
        y = conv_bn_act(b, y, out, a.kernel, stride, 1, act, d.bn_eps, "conv");
    } else if (a.type == "ir") {
        const int mid = int(std::lround(in * a.exp_ratio()));
        if (mid != in) y = conv_bn_act(b, y, mid, 1, 1, 1, act, d.bn_eps, "expand");
        y = conv_bn_act(b, y, mid, a.kernel, stride, mid, act, d.bn_eps, "dw");
        if (a.se_ratio.value_or(0) > 0)
            y = squeeze_excite(b, y, std::max(1, int(in * *a.se_ratio)), act);
        y = conv_bn_act(b, y, out, 1, 1, 1, act, d.bn_eps, "project", false);
    } else {  // ds, dsa
        y = conv_bn_act(b, y, in, a.kernel, stride, in, act, d.bn_eps, "dw");
        if (a.se_ratio.value_or(0) > 0)
            y = squeeze_excite(b, y, std::max(1, int(in * *a.se_ratio)), act);
        y = conv_bn_act(b, y, out, 1, 1, 1, act, d.bn_eps, "pw", a.type == "dsa");
        if (a.type == "dsa") skip = false;
    }
    if (!skip) return y;
    if (d.zero_init_residual) b.zero_init_scale(y);  // y: the branch's last BN (no activation after it)
    if (drop_rate > 0) y = b.drop_connect(y, float(drop_rate));
    return b.add(y, x, "add");
}

}  // namespace

Graph build_mbconv_net(const MbconvNetDef& d) {
    if (d.stages.empty()) throw InputError(fmt::format("{}: no stages", d.name));
    if (!(d.width > 0) || !(d.depth > 0))
        throw InputError(fmt::format("{}: width and depth multipliers must be positive", d.name));
    std::vector<BlockArgs> stages;
    for (const auto& s : d.stages) stages.push_back(parse_block(s));

    int total_blocks = 0;
    for (auto& s : stages) {
        s.repeats = int(std::ceil(s.repeats * d.depth - 1e-9));
        total_blocks += s.repeats;
    }

    Builder b(d.name, Shape{d.in_channels, d.resolution, d.resolution});
    int x = b.input();
    x = conv_bn_act(b, x, round_channels(d.stem_channels * d.width, d.divisor), d.stem_kernel,
                    d.stem_stride, 1, d.activation, d.bn_eps, "stem");
    int block_index = 0;
    for (size_t si = 0; si < stages.size(); ++si) {
        auto ss = b.scope(fmt::format("stage{}", si + 1));
        const BlockArgs& a = stages[si];
        const int out = round_channels(a.out_channels * d.width, d.divisor);
        for (int r = 0; r < a.repeats; ++r) {
            auto bs = b.scope(fmt::format("block{}", r + 1));
            double rate = d.drop_connect * block_index / std::max(1, total_blocks);
            x = block(b, x, a, out, r == 0 ? a.stride : 1, rate, d);
            ++block_index;
        }
    }
    if (d.head_channels > 0) {
        const double w = d.scale_head ? d.width : std::max(1.0, d.width);
        x = conv_bn_act(b, x, round_channels(d.head_channels * w, d.divisor), 1, 1, 1,
                        d.activation, d.bn_eps, "top");
    }
    auto s = b.scope("head");
    x = b.global_avg_pool(x, "gap");
    if (d.dropout > 0) x = b.dropout(x, float(d.dropout));
    x = b.linear(x, d.classes, true, "fc");
    b.mark_output(x);
    return b.finish();
}

}  // namespace deeper::nets
