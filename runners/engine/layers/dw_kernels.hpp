#pragma once
// The weight gradient of a depthwise convolution where oneDNN 2.6 has only its reference
// kernel: 5x5 kernels (EfficientNet's), kernels cut to the taps that meet a small map, bf16
// strided ones. On channels-innermost data (channels_innermost.hpp) an AVX-512 loop takes 16
// channels per vector; elsewhere a scalar loop.
#include <memory>
#include <optional>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "nets/graph.hpp"
#include "runners/engine/layers/channels_innermost.hpp"
#include "runners/engine/layout.hpp"

namespace deeper::runners::layers {

// dW[c][i][j] = sum over n, oh, ow of dy[n][c][oh][ow] * x[n][c][oh*s - pt + i][ow*s - pl + j],
// into `grad`, plain {C, 1, kh, kw} fp32; x and dy fp32 or bf16 (both one type). Made at bind:
// the loop chosen, the scalar loop's indexers and the partial sums made once, so a training
// step allocates nothing.
class DepthwiseWeightGrad {
public:
    DepthwiseWeightGrad(const nets::ConvAttrs& a, const dnnl::memory& src, const dnnl::memory& diff_dst,
                        const dnnl::memory& grad);
    void run();

private:
    nets::ConvAttrs a_;
    dnnl::memory src_, diff_dst_, grad_;
    std::optional<ChannelsInnermost> xl_, yl_;  // both: the vector loop
    std::unique_ptr<Indexer> xi_, yi_;          // else the scalar loop's
    std::vector<double> sums_;  // threads x blocks x kh x kw x 16 (vector loop), C x kh x kw (scalar)
};

}  // namespace deeper::runners::layers
