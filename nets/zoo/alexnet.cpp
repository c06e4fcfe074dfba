// AlexNet in torchvision's single-tower layout (64-192-384-256-256 filters), with the paper's
// LRN after the first two convs as an option and its overlapping 3x3/2 max pooling. The knobs
// `activation` (tanh: the paper's Fig. 1 comparison) and `pool_kernel` (2: non-overlapping
// pooling, the paper's sec. 3.4 ablation) set up its claims.
#include <fmt/format.h>

#include "nets/blocks.hpp"
#include "nets/builder.hpp"
#include "nets/zoo/families.hpp"

namespace deeper::nets::zoo_families {

namespace {

Graph build_alexnet(const NetOptions& o) {
    const int r = resolution_or(o);
    const bool lrn = o.lrn.value_or(false);
    const double drop = o.dropout.value_or(0.5);
    const int fc = o.fc_width.value_or(4096);
    const Op act = activation_knob(o, "alexnet");
    const int pool = o.pool_kernel.value_or(3);
    const std::string act_name = op_name(act);
    Builder b("alexnet", Shape{in_channels_or(o), r, r});
    int x = b.input();
    struct Layer {
        int channels, kernel, stride, pad;
        bool lrn_after, pool_after;
    };
    const Layer layers[] = {{64, 11, 4, 2, true, true},   {192, 5, 1, 2, true, true},
                            {384, 3, 1, 1, false, false}, {256, 3, 1, 1, false, false},
                            {256, 3, 1, 1, false, true}};
    int i = 0;
    for (const auto& l : layers) {
        auto s = b.scope(fmt::format("conv{}", ++i));
        x = b.conv(x, l.channels, l.kernel, l.stride, 1, true, "conv", l.pad);
        x = b.activation(x, act, act_name);
        if (lrn && l.lrn_after) x = b.lrn(x);
        if (l.pool_after) x = b.max_pool(x, pool, 2);
    }
    auto s = b.scope("head");
    x = b.flatten(x);
    if (drop > 0) x = b.dropout(x, float(drop), "dropout1");
    x = b.activation(b.linear(x, fc, true, "fc1"), act, act_name + "1");
    if (drop > 0) x = b.dropout(x, float(drop), "dropout2");
    x = b.activation(b.linear(x, fc, true, "fc2"), act, act_name + "2");
    x = b.linear(x, classes_or(o), true, "fc3");
    b.mark_output(x);
    return b.finish();
}

}  // namespace

void add_alexnet(std::vector<ZooEntry>& z) {
    z.push_back({"alexnet",
                 {},
                 "AlexNet, torchvision's single-tower layout (lrn: the paper's LRN)",
                 {"resolution", "classes", "in_channels", "lrn", "fc_width", "dropout", "activation", "pool_kernel"},
                 build_alexnet});
}

}  // namespace deeper::nets::zoo_families
