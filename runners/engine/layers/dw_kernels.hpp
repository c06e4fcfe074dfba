#pragma once
// The weight gradient of a depthwise convolution where oneDNN 2.6 has only its reference
// kernel: 5x5 kernels (EfficientNet's), kernels cut to the taps that meet a small map, bf16
// strided ones. On channels-innermost data (channels_innermost.hpp) an AVX-512 loop takes 16
// channels per vector; elsewhere a scalar loop.
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "nets/graph.hpp"

namespace deeper::runners::layers {

// dW[c][i][j] = sum over n, oh, ow of dy[n][c][oh][ow] * x[n][c][oh*s - pt + i][ow*s - pl + j],
// into `grad`, plain {C, 1, kh, kw} fp32; x and dy fp32 or bf16 (both one type). `sums` is
// the caller's memory for partial sums: threads x ceil(C / 16) x kh x kw x 16 doubles, reserved
// once, so a training step allocates nothing.
void depthwise_backward_weights(const nets::ConvAttrs& a, const dnnl::memory& src, const dnnl::memory& diff_dst,
                                const dnnl::memory& grad, std::vector<double>& sums);

}  // namespace deeper::runners::layers
