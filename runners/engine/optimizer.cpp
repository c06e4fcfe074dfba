#include "runners/engine/optimizer.hpp"

namespace deeper::runners {

Sgd::Sgd(ParamStore& store, SgdOptions o) : store_(store), o_(o) {
    for (const auto& p : store.infos()) {
        if (p.is_state || !p.trainable) continue;
        const float decay = (p.matrix || o.decay_norm_and_bias) ? o.weight_decay : 0.f;
        // Merge neighbours with the same decay: fewer, longer loops.
        if (!ranges_.empty() && ranges_.back().end == p.offset && ranges_.back().decay == decay)
            ranges_.back().end = p.offset + p.count;
        else
            ranges_.push_back({p.offset, p.offset + p.count, decay});
    }
    velocity_.assign(store.param_floats(), 0.f);
}

void Sgd::step(float lr) {
    float* w = store_.params();
    const float* g = store_.grads();
    float* v = velocity_.data();
    const float mu = o_.momentum;
    const bool nesterov = o_.nesterov;
    for (const Range& r : ranges_) {
        const float wd = r.decay;
        const std::ptrdiff_t b = std::ptrdiff_t(r.begin), e = std::ptrdiff_t(r.end);
#pragma omp parallel for simd schedule(static)
        for (std::ptrdiff_t i = b; i < e; ++i) {
            const float d = g[i] + wd * w[i];
            const float vi = mu * v[i] + d;
            v[i] = vi;
            w[i] -= lr * (nesterov ? d + mu * vi : vi);
        }
    }
    store_.touch();
}

}  // namespace deeper::runners
