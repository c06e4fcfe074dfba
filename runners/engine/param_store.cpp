#include "runners/engine/param_store.hpp"

#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>

namespace deeper::runners {

void AlignedFloats::resize(std::size_t n) {
    std::size_t bytes = ((n * sizeof(float) + 63) / 64) * 64;
    float* p = static_cast<float*>(std::aligned_alloc(64, std::max<std::size_t>(bytes, 64)));
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, std::max<std::size_t>(bytes, 64));
    p_.reset(p);
    n_ = n;
}

int ParamStore::add(ParamInfo info) {
    if (params_.size()) throw std::logic_error("ParamStore::add after allocate");
    info.count = info.internal.get_size() / sizeof(float);
    infos_.push_back(std::move(info));
    return int(infos_.size()) - 1;
}

void ParamStore::allocate() {
    std::size_t p = 0, s = 0;
    for (auto& i : infos_) {
        std::size_t& at = i.is_state ? s : p;
        i.offset = at;
        at += (i.count + 15) / 16 * 16;  // 64-byte aligned tensors
    }
    params_.resize(p);
    grads_.resize(p);
    state_.resize(s);
}

int ParamStore::find(const std::string& name) const {
    for (size_t i = 0; i < infos_.size(); ++i)
        if (infos_[i].name == name) return int(i);
    return -1;
}

float* ParamStore::data(int id) {
    const ParamInfo& i = infos_.at(id);
    return (i.is_state ? state_.data() : params_.data()) + i.offset;
}

std::int64_t ParamStore::trainable_count() const {
    std::int64_t n = 0;
    for (const auto& i : infos_) {
        if (i.is_state || !i.trainable) continue;
        std::int64_t e = 1;
        for (int d : i.dims) e *= d;
        n += e;
    }
    return n;
}

void ParamStore::initialize(std::uint64_t seed, const dnnl::engine& eng, dnnl::stream& s) {
    for (size_t id = 0; id < infos_.size(); ++id) {
        const ParamInfo& i = infos_[id];
        std::size_t n = i.plain.get_size() / sizeof(float);
        std::vector<float> v(n, 0.f);
        // One generator per tensor: values do not depend on which other tensors exist.
        std::seed_seq seq{std::uint32_t(seed), std::uint32_t(seed >> 32), std::uint32_t(id)};
        std::mt19937 rng(seq);
        switch (i.init) {
            case Init::zeros: break;
            case Init::ones: std::fill(v.begin(), v.end(), 1.f); break;
            case Init::kaiming_normal_fan_out: {
                std::normal_distribution<float> d(0.f, std::sqrt(2.f / float(std::max(1, i.fan))));
                for (auto& x : v) x = d(rng);
                break;
            }
            case Init::uniform_fan_in: {
                const float b = 1.f / std::sqrt(float(std::max(1, i.fan)));
                std::uniform_real_distribution<float> d(-b, b);
                for (auto& x : v) x = d(rng);
                break;
            }
        }
        write_plain(int(id), v.data(), eng, s);
    }
}

std::vector<float> ParamStore::read_plain(int id, const dnnl::engine& eng, dnnl::stream& s) {
    const ParamInfo& i = infos_.at(id);
    std::vector<float> out(i.plain.get_size() / sizeof(float));
    dnnl::memory src(i.internal, eng, data(id)), dst(i.plain, eng, out.data());
    dnnl::reorder(src, dst).execute(s, src, dst);
    s.wait();
    return out;
}

std::vector<float> ParamStore::read_plain_grad(int id, const dnnl::engine& eng, dnnl::stream& s) {
    const ParamInfo& i = infos_.at(id);
    if (i.is_state) throw std::logic_error(i.name + " has no gradient");
    std::vector<float> out(i.plain.get_size() / sizeof(float));
    dnnl::memory src(i.internal, eng, grad(id)), dst(i.plain, eng, out.data());
    dnnl::reorder(src, dst).execute(s, src, dst);
    s.wait();
    return out;
}

std::vector<float> ParamStore::read_plain_from(int id, const float* flat, const dnnl::engine& eng,
                                               dnnl::stream& s) {
    const ParamInfo& i = infos_.at(id);
    std::vector<float> out(i.plain.get_size() / sizeof(float));
    dnnl::memory src(i.internal, eng, const_cast<float*>(flat) + i.offset), dst(i.plain, eng, out.data());
    dnnl::reorder(src, dst).execute(s, src, dst);
    s.wait();
    return out;
}

void ParamStore::write_plain_to(int id, const float* values, float* flat, const dnnl::engine& eng,
                                dnnl::stream& s) {
    const ParamInfo& i = infos_.at(id);
    dnnl::memory src(i.plain, eng, const_cast<float*>(values)), dst(i.internal, eng, flat + i.offset);
    dnnl::reorder(src, dst).execute(s, src, dst);
    s.wait();
}

void ParamStore::write_plain(int id, const float* values, const dnnl::engine& eng,
                             dnnl::stream& s) {
    const ParamInfo& i = infos_.at(id);
    dnnl::memory src(i.plain, eng, const_cast<float*>(values)), dst(i.internal, eng, data(id));
    dnnl::reorder(src, dst).execute(s, src, dst);
    s.wait();
    touch();
}

}  // namespace deeper::runners
