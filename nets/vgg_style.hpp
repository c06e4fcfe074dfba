#pragma once
// Plain conv stacks written as lists, like torchvision's VGG cfgs:
//   64          a 3x3 conv with 64 filters (+ BN) + ReLU
//   conv1-256   a 1x1 conv with 256 filters (the VGG paper's own notation; any odd kernel)
//   M           a 2x2 max pool with stride 2 (ends a stage)
//   LRN         local response normalization (VGG's A-LRN)
// then a classifier of fully connected layers. VGG and user-defined plain nets use it.
#include <string>
#include <vector>

#include "nets/graph.hpp"

namespace deeper::nets {

struct VggNetDef {
    std::string name;
    std::vector<std::string> layers;
    bool batchnorm = false;
    std::vector<int> hidden = {4096, 4096};  // classifier hidden widths
    double dropout = 0.5;                    // after each hidden layer
    double width = 1.0;                      // conv channel multiplier
    Op activation = Op::relu;                // after every conv and hidden layer
    int resolution = 224, classes = 1000, in_channels = 3;
};

// Checks one layer token; throws InputError saying what is wrong with it.
void check_vgg_token(const std::string& token);

Graph build_vgg_net(const VggNetDef& def);

}  // namespace deeper::nets
