#pragma once
// Networks written as stages of block strings (MobileNet v1/v2, EfficientNet and user nets):
// stem conv -> stages of DSL blocks -> optional 1x1 head conv -> GAP -> dropout -> linear.
#include <string>
#include <vector>

#include "nets/block_dsl.hpp"
#include "nets/graph.hpp"

namespace deeper::nets {

struct MbconvNetDef {
    std::string name;
    std::vector<std::string> stages;  // one block string per stage
    int stem_channels = 32;
    int stem_kernel = 3;
    int stem_stride = 2;
    int head_channels = 0;  // 1x1 conv before pooling; 0 = none
    bool scale_head = true;  // false: the head keeps its width when width < 1 (MobileNetV2)
    Op activation = Op::relu;
    double width = 1.0, depth = 1.0;
    int divisor = 8;
    double dropout = 0.0;
    double drop_connect = 0.0;  // rate of the last block; block i gets rate * i / blocks
    bool zero_init_residual = false;  // blocks with a skip start as the identity
    float bn_eps = 1e-5f;
    int resolution = 224, classes = 1000, in_channels = 3;
};

Graph build_mbconv_net(const MbconvNetDef& def);

}  // namespace deeper::nets
