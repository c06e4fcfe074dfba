// EfficientNet (Tan & Le 2019): B0 as block strings, B1-B7 from the released coefficient table,
// and any compound scaling (alpha, beta, gamma, phi): depth alpha^phi, width beta^phi,
// resolution round(224 * gamma^phi), of B0 or of a base given by width/depth/resolution.
#include <fmt/format.h>

#include <cmath>

#include "nets/blocks.hpp"
#include "nets/error.hpp"
#include "nets/mbconv.hpp"
#include "nets/zoo/families.hpp"

namespace deeper::nets::zoo_families {

namespace {

struct Coefficients {
    double width, depth;
    int resolution;
    double dropout;
};

// (width, depth, resolution, dropout) as released with the paper.
const Coefficients kTable[] = {{1.0, 1.0, 224, 0.2}, {1.0, 1.1, 240, 0.2}, {1.1, 1.2, 260, 0.3},
                               {1.2, 1.4, 300, 0.3}, {1.4, 1.8, 380, 0.4}, {1.6, 2.2, 456, 0.4},
                               {1.8, 2.6, 528, 0.5}, {2.0, 3.1, 600, 0.5}};

Graph efficientnet(const std::string& name, const Coefficients& c, const NetOptions& o) {
    MbconvNetDef d;
    d.name = name;
    d.stages = {"ds_r1_k3_s1_e1_c16_se0.25",  "ir_r2_k3_s2_e6_c24_se0.25",
                "ir_r2_k5_s2_e6_c40_se0.25",  "ir_r3_k3_s2_e6_c80_se0.25",
                "ir_r3_k5_s1_e6_c112_se0.25", "ir_r4_k5_s2_e6_c192_se0.25",
                "ir_r1_k3_s1_e6_c320_se0.25"};
    d.activation = Op::swish;
    d.head_channels = 1280;
    d.bn_eps = 1e-3f;
    d.width = o.width.value_or(c.width);
    d.depth = o.depth.value_or(c.depth);
    d.dropout = o.dropout.value_or(c.dropout);
    d.drop_connect = o.drop_connect.value_or(0.2);
    d.zero_init_residual = o.zero_init_residual.value_or(false);
    d.resolution = o.resolution.value_or(c.resolution);
    d.classes = classes_or(o);
    d.in_channels = in_channels_or(o);
    return build_mbconv_net(d);
}

// Compound scaling of a base: width, depth and resolution (default B0's 1, 1, 224) are the
// base that phi scales, so a small proxy (say resolution 32) scales like B0 does.
Graph efficientnet_compound(const NetOptions& o) {
    const double alpha = o.alpha.value_or(1.2), beta = o.beta.value_or(1.1),
                 gamma = o.gamma.value_or(1.15), phi = o.phi.value_or(0.0);
    if (!(alpha > 0 && beta > 0 && gamma > 0))
        throw InputError("efficientnet: alpha, beta and gamma must be positive");
    Coefficients c{o.width.value_or(1.0) * std::pow(beta, phi), o.depth.value_or(1.0) * std::pow(alpha, phi),
                   int(std::lround(resolution_or(o) * std::pow(gamma, phi))), 0.2};
    NetOptions rest = o;
    rest.width.reset();
    rest.depth.reset();
    rest.resolution.reset();
    return efficientnet("efficientnet", c, rest);
}

}  // namespace

void add_efficientnet(std::vector<ZooEntry>& z) {
    const std::vector<std::string> knobs = {"resolution", "classes", "in_channels", "width",
                                            "depth",      "dropout", "drop_connect", "zero_init_residual"};
    for (int i = 0; i < 8; ++i) {
        const Coefficients c = kTable[i];
        std::string name = fmt::format("efficientnet-b{}", i);
        z.push_back({name,
                     {},
                     fmt::format("EfficientNet-B{} (width {}, depth {}, resolution {})", i, c.width,
                                 c.depth, c.resolution),
                     knobs,
                     [name, c](const NetOptions& o) { return efficientnet(name, c, o); }});
    }
    auto k = knobs;
    k.insert(k.end(), {"alpha", "beta", "gamma", "phi"});
    z.push_back({"efficientnet",
                 {},
                 "EfficientNet-B0 scaled by alpha^phi (depth), beta^phi (width), gamma^phi "
                 "(resolution)",
                 k, efficientnet_compound});
}

}  // namespace deeper::nets::zoo_families
