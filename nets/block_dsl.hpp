#pragma once
// The MBConv block-string DSL of timm's _efficientnet_builder: one string describes a stage of
// repeated blocks, e.g. "ir_r2_k3_s2_e6_c24_se0.25".
//   type   ds (depthwise separable), dsa (ds with an activation after the pointwise conv, no
//          skip: MobileNet v1), ir (inverted residual: MobileNet v2, MBConv), cn (conv-bn-act),
//          id (identity, a search's "skip this layer": nothing where the shape is kept, else a
//          1x1 conv of the stride + BN, as NAS-Bench-Macro's and DARTS's skip ops)
//   rN     repeats          kK  depthwise (or cn) kernel     sS  stride of the first block
//   eX     expansion ratio  cC  output channels              seX squeeze-excitation ratio of the
//   noskip no residual connection                                block's input channels
// Strings print back exactly as parsed when written in this canonical order.
#include <optional>
#include <string>
#include <string_view>

namespace deeper::nets {

struct BlockArgs {
    std::string type;  // ds | dsa | ir | cn | id
    int repeats = 1;
    int kernel = 3;
    int stride = 1;
    std::optional<double> expansion;  // written only when given; ir defaults to 1
    int out_channels = 0;
    std::optional<double> se_ratio;
    bool noskip = false;

    double exp_ratio() const { return expansion.value_or(1.0); }
    bool operator==(const BlockArgs&) const = default;
};

// Throws InputError saying which token of which string is wrong.
BlockArgs parse_block(std::string_view s);
std::string to_string(const BlockArgs& b);

}  // namespace deeper::nets
