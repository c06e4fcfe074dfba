// ResNets and their plain twins (He et al. 2016): the ImageNet nets as (block, layers) like
// torchvision, and the CIFAR nets of sec 4.2 (depth 6n+2, 16/32/64 filters, option-A
// shortcuts). Plain nets are the same stacks without shortcuts: the degradation experiment.
// SE (Hu et al. 2018) goes on any of them with se_ratio.
#include <fmt/format.h>

#include <cmath>

#include "nets/blocks.hpp"
#include "nets/builder.hpp"
#include "nets/error.hpp"
#include "nets/zoo/families.hpp"

namespace deeper::nets::zoo_families {

namespace {

struct ResNetDef {
    std::string name;
    bool bottleneck = false;
    bool residual = true;
    bool cifar = false;  // 3x3 stem with 16 filters, no max pool, 3 stages
    std::vector<int> layers;
};

struct Knobs {
    double width;
    double se_ratio;
    char shortcut;
    bool zero_init_residual;
};

int block(Builder& b, int x, const ResNetDef& d, const Knobs& k, int planes, int stride) {
    const int in = b.shape(x).c;
    const int out = d.bottleneck ? planes * 4 : planes;
    int y = x;
    int i = 0, last_bn = -1;
    auto conv_bn = [&](int kernel, int channels, int s, bool act) {
        ++i;
        y = b.conv(y, channels, kernel, s, 1, false, fmt::format("conv{}", i));
        y = last_bn = b.batchnorm(y, fmt::format("bn{}", i));
        if (act) y = b.relu(y, fmt::format("relu{}", i));
    };
    if (d.bottleneck) {
        conv_bn(1, planes, 1, true);
        conv_bn(3, planes, stride, true);  // stride on the 3x3 (torchvision's v1.5)
        conv_bn(1, out, 1, false);
    } else {
        conv_bn(3, planes, stride, true);
        conv_bn(3, out, 1, false);
    }
    if (k.se_ratio > 0) y = squeeze_excite(b, y, std::max(1, int(out * k.se_ratio)), Op::relu);
    if (d.residual) {
        if (k.zero_init_residual) b.zero_init_scale(last_bn);
        int shortcut = x;
        if (stride != 1 || in != out) {
            auto s = b.scope("shortcut");
            if (k.shortcut == 'A') {
                shortcut = b.zero_pad_shortcut(x, out, stride, "pad");
            } else {
                shortcut = b.conv(x, out, 1, stride, 1, false, "conv");
                shortcut = b.batchnorm(shortcut, "bn");
            }
        }
        y = b.add(y, shortcut);
    }
    return b.relu(y, "relu_out");
}

Graph build_resnet(const ResNetDef& d, const NetOptions& o) {
    Knobs k{o.width.value_or(1.0), o.se_ratio.value_or(0.0), 'B', o.zero_init_residual.value_or(false)};
    if (k.zero_init_residual && !d.residual)
        throw InputError(fmt::format("{}: zero_init_residual needs residual blocks; a plain net has none", d.name));
    std::string sc = o.shortcut.value_or(d.cifar ? "A" : "B");
    if (sc != "A" && sc != "B")
        throw InputError(fmt::format("{}: shortcut must be A or B, got '{}'", d.name, sc));
    k.shortcut = sc[0];
    if (!(k.width > 0)) throw InputError(fmt::format("{}: width must be positive", d.name));
    if (k.se_ratio >= 1) throw InputError(fmt::format("{}: se_ratio must be below 1", d.name));

    const int r = resolution_or(o, d.cifar ? 32 : 224);
    Builder b(d.name, Shape{in_channels_or(o), r, r});
    int x = b.input();
    {
        auto s = b.scope("stem");
        if (d.cifar) {
            x = b.conv(x, scale_channels(16, k.width), 3, 1, 1, false, "conv");
        } else {
            x = b.conv(x, scale_channels(64, k.width), 7, 2, 1, false, "conv");
        }
        x = b.batchnorm(x, "bn");
        x = b.relu(x);
        if (!d.cifar) x = b.max_pool(x, 3, 2, 1, false, "pool");
    }
    const int base = d.cifar ? 16 : 64;
    for (size_t si = 0; si < d.layers.size(); ++si) {
        auto ss = b.scope(fmt::format("stage{}", si + 1));
        const int planes = scale_channels(base << si, k.width);
        for (int bi = 0; bi < d.layers[si]; ++bi) {
            auto bs = b.scope(fmt::format("block{}", bi + 1));
            x = block(b, x, d, k, planes, (si > 0 && bi == 0) ? 2 : 1);
        }
    }
    auto s = b.scope("head");
    x = b.global_avg_pool(x);
    x = b.linear(x, classes_or(o, d.cifar ? 10 : 1000), true, "fc");
    b.mark_output(x);
    return b.finish();
}

const std::vector<std::string> kKnobs = {"resolution", "classes",  "in_channels",       "width",
                                         "se_ratio",   "shortcut", "zero_init_residual"};

ZooEntry entry(ResNetDef d, std::string summary, double default_se = 0) {
    ZooEntry e;
    e.name = d.name;
    e.summary = std::move(summary);
    e.knobs = kKnobs;
    e.build = [d, default_se](const NetOptions& o) {
        NetOptions oo = o;
        if (!oo.se_ratio && default_se > 0) oo.se_ratio = default_se;
        return build_resnet(d, oo);
    };
    return e;
}

}  // namespace

ZooEntry cifar_resnet_entry(int depth, bool residual) {
    if (depth < 8 || (depth - 2) % 6)
        throw InputError(fmt::format("CIFAR ResNet depth must be 6n+2 with n >= 1, got {}", depth));
    const int n = (depth - 2) / 6;
    ResNetDef d{fmt::format("{}{}", residual ? "resnet" : "plain", depth), false, residual, true,
                {n, n, n}};
    return entry(d, fmt::format("CIFAR {} net of He et al. sec 4.2, depth {} (n = {}){}",
                                residual ? "residual" : "plain", depth, n,
                                residual ? ", option-A shortcuts" : ""));
}

void add_resnet(std::vector<ZooEntry>& z) {
    struct Imagenet {
        int depth;
        bool bottleneck;
        std::vector<int> layers;
    };
    const Imagenet nets[] = {{18, false, {2, 2, 2, 2}},
                             {34, false, {3, 4, 6, 3}},
                             {50, true, {3, 4, 6, 3}},
                             {101, true, {3, 4, 23, 3}},
                             {152, true, {3, 8, 36, 3}}};
    for (bool residual : {true, false}) {
        for (const auto& n : nets) {
            ResNetDef d{fmt::format("{}{}", residual ? "resnet" : "plain", n.depth), n.bottleneck,
                        residual, false, n.layers};
            z.push_back(entry(d, fmt::format("ImageNet {}-layer {} net ({} blocks)", n.depth,
                                             residual ? "residual" : "plain",
                                             n.bottleneck ? "bottleneck" : "basic")));
        }
        for (int depth : {20, 32, 44, 56, 110}) z.push_back(cifar_resnet_entry(depth, residual));
    }
    ResNetDef se50{"se-resnet50", true, true, false, {3, 4, 6, 3}};
    z.push_back(entry(se50, "SE-ResNet-50 (Hu et al. 2018), reduction 16", 1.0 / 16));
}

}  // namespace deeper::nets::zoo_families
