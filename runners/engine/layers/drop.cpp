// Dropout (per element) and drop-connect / stochastic depth (per sample), both with inverted
// scaling so that inference is the identity. Masks come from a counter-based hash of
// (seed, step, node, index): the same step draws the same mask on any thread count.
#include <omp.h>

#include "runners/engine/layers/layers.hpp"

namespace deeper::runners::layers {

DropLayer::DropLayer(const nets::Node& n)
    : node_(n), per_sample_(n.op == nets::Op::drop_connect),
      rate_(std::get<nets::DropAttrs>(n.attrs).rate) {}

memory::desc DropLayer::define(LayerContext& c) {
    const memory::desc data = c.in_desc(0);
    if (!c.training() || rate_ <= 0.f) {
        identity = passes_grad = true;
        return data;
    }
    inplace_ok = true;
    bf16_ = data.data_type() == memory::data_type::bf16;
    n_ = physical_elems(data);
    if (per_sample_) {
        Indexer ix(data);
        if (!ix.sample_major())
            throw std::logic_error("drop-connect needs a sample-major layout");
        per_sample_elems_ = n_ / data.dims()[0];
    }
    const memory::dim mask_elems = per_sample_ ? data.dims()[0] : memory::dim(n_);
    mask_buf_ = c.buffer(plain_desc({mask_elems}), c.needs_backward()
                                                        ? LayerContext::Life::fwd_to_bwd
                                                        : LayerContext::Life::fwd);
    return data;
}

void DropLayer::bind(LayerContext& c) {
    if (identity) return;
    const memory::desc data = c.in_desc(0);
    mask_ = static_cast<float*>(
        c.buffer_memory(mask_buf_, plain_desc({per_sample_ ? data.dims()[0] : memory::dim(n_)}))
            .get_data_handle());
    x_ = c.input(0).get_data_handle();
    y_ = c.output().get_data_handle();
    if (c.input_needs_grad(0)) {
        dy_ = c.diff_dst().get_data_handle();
        dx_ = c.diff_src(0).get_data_handle();
    }
}

namespace {

// out[i] = in[i] * mask[i / per], in the tensor's own type (fp32 or bf16)
void apply_mask(const void* in, void* out, const float* mask, std::int64_t n, std::int64_t per, bool bf16) {
    if (bf16) {
        const auto* x = static_cast<const std::uint16_t*>(in);
        auto* y = static_cast<std::uint16_t*>(out);
#pragma omp parallel for schedule(static)
        for (std::int64_t i = 0; i < n; ++i) y[i] = float_to_bf16(bf16_to_float(x[i]) * mask[i / per]);
    } else {
        const auto* x = static_cast<const float*>(in);
        auto* y = static_cast<float*>(out);
#pragma omp parallel for schedule(static)
        for (std::int64_t i = 0; i < n; ++i) y[i] = x[i] * mask[i / per];
    }
}

}  // namespace

void DropLayer::forward(LayerContext& c) {
    if (identity) return;
    const std::uint64_t key = c.seed() ^ (c.step() * 0xD1B54A32D192ED03ull) ^
                              (std::uint64_t(node_.id) * 0x8CB92BA72F3D8DD7ull);
    const float keep = 1.f - rate_, scale = 1.f / keep;
    const std::int64_t masks = per_sample_ ? std::int64_t(n_ / per_sample_elems_) : std::int64_t(n_);
    float* mask = mask_;
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < masks; ++i) mask[i] = uniform_hash(key, i) < keep ? scale : 0.f;
    const std::int64_t per = per_sample_ ? std::int64_t(per_sample_elems_) : 1;
    apply_mask(x_, y_, mask, std::int64_t(n_), per, bf16_);
}

void DropLayer::backward(LayerContext& c) {
    if (identity || !dx_) return;
    const std::int64_t per = per_sample_ ? std::int64_t(per_sample_elems_) : 1;
    apply_mask(dy_, dx_, mask_, std::int64_t(n_), per, bf16_);
    c.count_backward_primitive();
}

}  // namespace deeper::runners::layers
