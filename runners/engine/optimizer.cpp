#include "runners/engine/optimizer.hpp"

#include <cmath>
#include <stdexcept>

namespace deeper::runners {

Optimizer::Optimizer(ParamStore& store, OptimizerOptions o) : store_(store), o_(o) {
    if (o.kind != "sgd" && o.kind != "rmsprop")
        throw std::invalid_argument("optimizer must be sgd or rmsprop");
    for (const auto& p : store.infos()) {
        if (p.is_state || !p.trainable) continue;
        const float decay = (p.matrix || o.decay_norm_and_bias) ? o.weight_decay : 0.f;
        // Merge neighbours with the same decay: fewer, longer loops.
        if (!ranges_.empty() && ranges_.back().end == p.offset && ranges_.back().decay == decay)
            ranges_.back().end = p.offset + p.count;
        else
            ranges_.push_back({p.offset, p.offset + p.count, decay});
    }
    velocity_.resize(store.param_floats());
    if (o.kind == "rmsprop") square_avg_.resize(store.param_floats());
}

std::vector<std::pair<std::string, float*>> Optimizer::state() {
    std::vector<std::pair<std::string, float*>> s = {{"momentum", velocity_.data()}};
    if (o_.kind == "rmsprop") s.emplace_back("square_avg", square_avg_.data());
    return s;
}

void Optimizer::step(float lr) {
    float* w = store_.params();
    const float* g = store_.grads();
    float* v = velocity_.data();
    const float mu = o_.momentum;
    for (const Range& r : ranges_) {
        const float wd = r.decay;
        const std::ptrdiff_t b = std::ptrdiff_t(r.begin), e = std::ptrdiff_t(r.end);
        if (o_.kind == "sgd") {  // PyTorch's SGD: v = mu v + (g + wd w); w -= lr v (or Nesterov)
            const bool nesterov = o_.nesterov;
#pragma omp parallel for simd schedule(static)
            for (std::ptrdiff_t i = b; i < e; ++i) {
                const float d = g[i] + wd * w[i];
                const float vi = mu * v[i] + d;
                v[i] = vi;
                w[i] -= lr * (nesterov ? d + mu * vi : vi);
            }
        } else {  // RMSProp as EfficientNet used it (TensorFlow's: eps inside the root)
            float* ms = square_avg_.data();
            const float rho = o_.rmsprop_decay, eps = o_.rmsprop_eps;
#pragma omp parallel for simd schedule(static)
            for (std::ptrdiff_t i = b; i < e; ++i) {
                const float d = g[i] + wd * w[i];
                ms[i] = rho * ms[i] + (1 - rho) * d * d;
                v[i] = mu * v[i] + lr * d / std::sqrt(ms[i] + eps);
                w[i] -= v[i];
            }
        }
    }
    store_.touch();
}

}  // namespace deeper::runners
