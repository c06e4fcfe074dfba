// MobileNet v1 (Howard et al. 2017) and v2 (Sandler et al. 2018) as block strings.
// v1 scales channels as the paper does (int(alpha * C)); v2 rounds to multiples of 8 and keeps
// its 1280-wide head for width < 1, as torchvision does.
#include "nets/blocks.hpp"
#include "nets/mbconv.hpp"
#include "nets/zoo/families.hpp"

namespace deeper::nets::zoo_families {

namespace {

const std::vector<std::string> kKnobs = {"resolution", "classes", "in_channels", "width",
                                         "dropout"};

Graph mobilenet_v1(const NetOptions& o) {
    MbconvNetDef d;
    d.name = "mobilenet-v1";
    d.stages = {"dsa_r1_k3_s1_c64",  "dsa_r2_k3_s2_c128", "dsa_r2_k3_s2_c256",
                "dsa_r6_k3_s2_c512", "dsa_r2_k3_s2_c1024"};
    d.activation = Op::relu;
    d.divisor = 1;
    d.width = o.width.value_or(1.0);
    d.dropout = o.dropout.value_or(0.0);
    d.resolution = resolution_or(o);
    d.classes = classes_or(o);
    d.in_channels = in_channels_or(o);
    return build_mbconv_net(d);
}

Graph mobilenet_v2(const NetOptions& o) {
    MbconvNetDef d;
    d.name = "mobilenet-v2";
    d.stages = {"ds_r1_k3_s1_c16",    "ir_r2_k3_s2_e6_c24",  "ir_r3_k3_s2_e6_c32",
                "ir_r4_k3_s2_e6_c64", "ir_r3_k3_s1_e6_c96",  "ir_r3_k3_s2_e6_c160",
                "ir_r1_k3_s1_e6_c320"};
    d.activation = Op::relu6;
    d.head_channels = 1280;
    d.scale_head = false;
    d.width = o.width.value_or(1.0);
    d.dropout = o.dropout.value_or(0.2);
    d.resolution = resolution_or(o);
    d.classes = classes_or(o);
    d.in_channels = in_channels_or(o);
    return build_mbconv_net(d);
}

}  // namespace

void add_mobilenet(std::vector<ZooEntry>& z) {
    z.push_back({"mobilenet-v1", {}, "MobileNet v1: depthwise separable convs (width, resolution)",
                 kKnobs, mobilenet_v1});
    z.push_back({"mobilenet-v2", {}, "MobileNetV2: inverted residuals, linear bottlenecks (width)",
                 kKnobs, mobilenet_v2});
}

}  // namespace deeper::nets::zoo_families
