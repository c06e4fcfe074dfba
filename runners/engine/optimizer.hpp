#pragma once
// Optimizers over the flat parameter buffer: one parallel pass per step, frozen tensors
// untouched. SGD follows PyTorch's formulation (momentum buffer v = mu v + g + wd w).
#include <cstddef>
#include <vector>

#include "runners/engine/param_store.hpp"

namespace deeper::runners {

struct SgdOptions {
    float momentum = 0.9f;
    bool nesterov = false;
    float weight_decay = 0.f;
    bool decay_norm_and_bias = true;  // false: no weight decay on BN scale/shift and biases
};

class Sgd {
public:
    Sgd(ParamStore& store, SgdOptions o);
    void step(float lr);
    std::vector<float>& momentum_buffer() { return velocity_; }

private:
    struct Range {
        std::size_t begin, end;
        float decay;
    };
    ParamStore& store_;
    SgdOptions o_;
    std::vector<Range> ranges_;
    std::vector<float> velocity_;
};

}  // namespace deeper::runners
