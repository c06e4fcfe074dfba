#pragma once
// Optimizers over the flat parameter buffer: one parallel pass per step, frozen tensors
// untouched. Their state lives in buffers laid out like the parameters, so checkpoints save it
// per tensor in plain order.
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "runners/engine/param_store.hpp"

namespace deeper::runners {

struct OptimizerOptions {
    std::string kind = "sgd";  // sgd | rmsprop
    float momentum = 0.9f;
    bool nesterov = false;
    float weight_decay = 0.f;
    bool decay_norm_and_bias = true;  // false: no weight decay on BN scale/shift and biases
    float rmsprop_decay = 0.9f, rmsprop_eps = 1e-3f;
};

class Optimizer {
public:
    Optimizer(ParamStore& store, OptimizerOptions o);
    void step(float lr);
    // name -> buffer laid out like the parameters ("momentum", "square_avg")
    std::vector<std::pair<std::string, float*>> state();

private:
    struct Range {
        std::size_t begin, end;
        float decay;
    };
    ParamStore& store_;
    OptimizerOptions o_;
    std::vector<Range> ranges_;
    AlignedFloats velocity_, square_avg_;
};

}  // namespace deeper::runners
