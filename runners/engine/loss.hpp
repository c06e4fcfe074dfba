#pragma once
// Softmax cross-entropy with label smoothing, on plain (N x K) logits.
#include <cstdint>

namespace deeper::runners {

struct LossStats {
    double loss = 0;       // mean over the batch
    int top1_correct = 0;
    int top5_correct = 0;
};

// Writes d(weight * loss)/d(logits) into grad (when not null) and returns the batch's stats.
// Smoothing eps mixes the one-hot target with the uniform distribution: (1 - eps) y + eps / K.
LossStats softmax_cross_entropy(const float* logits, const std::int32_t* labels, int n, int k,
                                float smoothing, float weight, float* grad);

}  // namespace deeper::runners
