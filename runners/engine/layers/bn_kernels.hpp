#pragma once
// The engine's own batch-norm kernels, for activations whose channels are innermost
// (channels_innermost.hpp) on CPUs with AVX-512. oneDNN 2.6's batch norm reads its input twice
// to find the statistics, and on bf16 NHWC it is slow (23 of 71 ms of resnet20's bf16 step on
// the AMX Xeon); these read it once (sums shifted by a sample of each channel, so no
// cancellation) and take the fused ReLU's mask from the input again instead of a workspace:
// forward 3 passes over memory, backward 5. They also run the activation that follows (ReLU6
// and swish, which oneDNN's batch norm cannot fuse), its gradient recomputed from the input in
// backward: in EfficientNet-B0's bf16 step the swish alone cost 51 of 400 ms as separate
// eltwise primitives. The tuner times them against oneDNN's for every batch norm a conv feeds
// (ConvForm::own_bn); nothing uses them unless it measured them faster.
#include <cstdint>
#include <vector>

#include "runners/engine/layers/channels_innermost.hpp"

namespace deeper::runners::layers {

// Memory the kernels work in (per-thread partial sums, each channel's shift), made once for a
// layout and the OpenMP threads of the caller, so a training step allocates nothing.
struct BnScratch {
    BnScratch() = default;
    explicit BnScratch(const ChannelsInnermost& l);
    std::vector<double> sums;  // threads x blocks x (16 + 16)
    std::vector<float> pivot;  // blocks x 16
};

// What runs on the normalized value z = (x - mean) * scale + shift before it is stored.
enum class BnActivation { none, relu, relu6, swish };  // swish: z * sigmoid(z) (SiLU)


// Batch mean and biased variance of each channel.
void bn_statistics(const ChannelsInnermost& l, BnScratch& scratch, const void* x, float* mean, float* variance);

// y = act(z + r), z = (x - mean) * scale + shift per channel, r a residual in x's layout (the
// other input of the add the norm feeds) or null for none. Centred first: with the shift folded
// in (x * scale + shift') a mean far from zero against the spread would cost the output its
// low bits.
void bn_apply(const ChannelsInnermost& l, const void* x, const void* residual, void* y, const float* mean,
              const float* scale, const float* shift, BnActivation act);

// With g = dy * act'(z), z as above: sum of g and of g * (x - mean) per channel.
void bn_backward_sums(const ChannelsInnermost& l, BnScratch& scratch, const void* x, const void* dy, const float* mean,
                      const float* scale, const float* shift, BnActivation act, float* sum_g, float* sum_g_xc);

// dx = g * scale + (x - mean) * c1 + c0 per channel, g as above.
void bn_backward_data(const ChannelsInnermost& l, const void* x, const void* dy, void* dx, const float* mean,
                      const float* scale, const float* shift, const float* c1, const float* c0, BnActivation act);

}  // namespace deeper::runners::layers
