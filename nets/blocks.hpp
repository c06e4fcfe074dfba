#pragma once
// The pieces the families share (torchvision's Conv2dNormActivation, SqueezeExcitation and
// _make_divisible; timm's round_chs_fn): one definition each, and the width rules by name.
#include <optional>
#include <string_view>

#include "nets/builder.hpp"
#include "nets/knobs.hpp"

namespace deeper::nets {

// The papers' input and output (ImageNet): 224x224 RGB, 1000 classes, unless knobs say otherwise.
inline int resolution_or(const NetOptions& o, int paper = 224) { return o.resolution.value_or(paper); }
inline int classes_or(const NetOptions& o, int paper = 1000) { return o.classes.value_or(paper); }
inline int in_channels_or(const NetOptions& o) { return o.in_channels.value_or(3); }

// Activations by name: relu, relu6, swish (or silu), sigmoid, tanh; nullopt for anything else.
std::optional<Op> activation_named(std::string_view name);
inline constexpr std::string_view kActivationNames = "relu, relu6, swish, sigmoid or tanh";
// The `activation` knob of the families that have one (AlexNet, VGG): relu unless set (tanh is
// AlexNet's Fig. 1 comparison). Throws InputError naming the net for an unknown name.
Op activation_knob(const NetOptions& o, std::string_view net);

// Width rules. EfficientNet / MobileNetV2: a multiple of `divisor`, never more than 10% below v;
// divisor 1 truncates as the MobileNet v1 paper does (int(alpha * C)).
int round_channels(double v, int divisor);
// ResNet, SENet: round(c * width), at least 1.
int scale_channels(int c, double width);

// conv (no bias) -> batchnorm -> activation (none when with_act is false), in scope `name`:
// nodes name.conv, name.bn, name.act.
int conv_bn_act(Builder& b, int x, int out, int k, int stride, int groups, Op act, float eps, std::string_view name,
                bool with_act = true);

// Squeeze-and-excitation (Hu et al.): GAP -> 1x1 conv to `reduced` -> act -> 1x1 conv back ->
// sigmoid -> channel scale of x, in scope "se". The families differ in where `reduced` comes
// from (SENet: the block's output channels / 16; EfficientNet: its input channels x 0.25).
int squeeze_excite(Builder& b, int x, int reduced, Op act);

}  // namespace deeper::nets
