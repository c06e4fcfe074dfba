#pragma once
// Parameters, their gradients and the non-trained state (BN running statistics) of a compiled
// net, each in one flat buffer so an optimizer step is one parallel pass. Tensors live in the
// layouts the forward primitives want; read_plain/write_plain convert to and from PyTorch's
// plain order (conv OIHW, grouped conv the same memory order, linear out x in).
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace deeper::runners {

enum class Init { zeros, ones, kaiming_normal_fan_out, uniform_fan_in };

struct ParamInfo {
    std::string name;          // graph node name + ".weight" / ".bias" / ".running_mean" ...
    std::vector<int> dims;     // PyTorch's shape
    dnnl::memory::desc internal;  // layout in the flat buffer
    dnnl::memory::desc plain;     // the same dims as internal, plain tag
    Init init = Init::zeros;
    int fan = 1;               // fan-in or fan-out for the init rule
    bool matrix = false;       // a conv/linear weight (weight decay may skip BN and biases)
    bool trainable = true;     // false: frozen (no gradient computed)
    bool is_state = false;     // running statistics: saved, never trained
    std::size_t offset = 0;    // in floats, within params/grads or state
    std::size_t count = 0;     // floats the internal layout takes (padding included)
};

class AlignedFloats {
public:
    void resize(std::size_t n);
    float* data() { return p_.get(); }
    const float* data() const { return p_.get(); }
    std::size_t size() const { return n_; }

private:
    struct Free {
        void operator()(float* p) const { std::free(p); }
    };
    std::unique_ptr<float, Free> p_;
    std::size_t n_ = 0;
};

class ParamStore {
public:
    int add(ParamInfo info);  // before allocate()
    void allocate();

    const std::vector<ParamInfo>& infos() const { return infos_; }
    const ParamInfo& info(int id) const { return infos_.at(id); }
    int find(const std::string& name) const;  // -1 when absent

    float* data(int id);  // the tensor's floats: in params or in state
    float* grad(int id) { return grads_.data() + infos_.at(id).offset; }
    float* params() { return params_.data(); }
    float* grads() { return grads_.data(); }
    std::size_t param_floats() const { return params_.size(); }
    std::int64_t trainable_count() const;

    void set_trainable(int id, bool on) { infos_.at(id).trainable = on; }

    // Deterministic initialization for a seed (same seed, same values, any layout).
    void initialize(std::uint64_t seed, const dnnl::engine& eng, dnnl::stream& s);
    std::vector<float> read_plain(int id, const dnnl::engine& eng, dnnl::stream& s);
    std::vector<float> read_plain_grad(int id, const dnnl::engine& eng, dnnl::stream& s);
    // The same for any buffer laid out like the parameters (optimizer state).
    std::vector<float> read_plain_from(int id, const float* flat, const dnnl::engine& eng, dnnl::stream& s);
    void write_plain_to(int id, const float* values, float* flat, const dnnl::engine& eng, dnnl::stream& s);
    void write_plain(int id, const float* values, const dnnl::engine& eng, dnnl::stream& s);

    // Bumped whenever parameters change, so layout copies know when to refresh.
    std::uint64_t version() const { return version_; }
    void touch() { ++version_; }

private:
    std::vector<ParamInfo> infos_;
    AlignedFloats params_, grads_, state_;
    std::uint64_t version_ = 1;
};

}  // namespace deeper::runners
