#pragma once
// Builds a Graph op by op, checking every shape as it goes (like ggml asserting after each op)
// and counting params and MACs per node. A shape that cannot work throws InputError naming the
// node, so "resolution too small" errors say which stage breaks.
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "nets/graph.hpp"

namespace deeper::nets {

class Builder {
public:
    Builder(std::string net_name, Shape input);

    // Names are joined with '.': inside scope("stage2") and scope("block1"), conv(..., "conv1")
    // is named "stage2.block1.conv1".
    class Scope {
    public:
        explicit Scope(Builder& b) : b_(&b) {}
        Scope(Scope&& o) noexcept : b_(o.b_) { o.b_ = nullptr; }
        Scope(const Scope&) = delete;
        Scope& operator=(const Scope&) = delete;
        Scope& operator=(Scope&&) = delete;
        ~Scope() {
            if (b_) b_->scopes_.pop_back();
        }

    private:
        Builder* b_;
    };
    [[nodiscard]] Scope scope(std::string_view part);

    int input() const { return 0; }
    const Shape& shape(int x) const { return g_.nodes.at(x).out; }

    // Square kernel, symmetric "same-style" padding k/2 unless pad >= 0 is given.
    int conv(int x, int out_channels, int k, int stride = 1, int groups = 1, bool bias = false,
             std::string_view name = "conv", int pad = -1);
    int conv(int x, const ConvAttrs& a, std::string_view name);
    int batchnorm(int x, std::string_view name = "bn", float eps = 1e-5f);
    // Starts batchnorm node `bn`'s scale at 0, so the residual branch it ends adds nothing at
    // first and its block is the identity (Goyal et al. 2017; torchvision's zero_init_residual).
    void zero_init_scale(int bn);
    int activation(int x, Op kind, std::string_view name);
    int relu(int x, std::string_view name = "relu") { return activation(x, Op::relu, name); }
    // ceil_mode as in PyTorch: the last window may hang over the bottom/right edge.
    int max_pool(int x, int k, int stride, int pad = 0, bool ceil_mode = false,
                 std::string_view name = "pool");
    int avg_pool(int x, int k, int stride, int pad = 0, bool ceil_mode = false,
                 std::string_view name = "pool");
    int global_avg_pool(int x, std::string_view name = "gap");
    int lrn(int x, const LrnAttrs& a = {}, std::string_view name = "lrn");
    int linear(int x, int out_features, bool bias = true, std::string_view name = "fc");
    int dropout(int x, float rate, std::string_view name = "dropout");
    int drop_connect(int x, float rate, std::string_view name = "drop_connect");
    int add(int a, int b, std::string_view name = "add");
    int channel_scale(int x, int scale, std::string_view name = "scale");
    int concat(const std::vector<int>& xs, std::string_view name = "concat");
    int flatten(int x, std::string_view name = "flatten");
    int zero_pad_shortcut(int x, int out_channels, int stride, std::string_view name = "shortcut");

    void mark_output(int x, float loss_weight = 1.f);
    Graph finish();

private:
    int pool(int x, Op op, int k, int stride, int pad, bool ceil_mode, std::string_view name);
    int push(Op op, std::vector<int> inputs, Shape out, Attrs attrs, std::string_view name,
             std::int64_t params = 0, std::int64_t macs = 0);
    std::string full_name(std::string_view name) const;
    [[noreturn]] void fail(std::string_view name, const std::string& what) const;

    Graph g_;
    std::vector<std::string> scopes_;
    std::unordered_set<std::string> names_;  // for the duplicate check: nets have 10^5 nodes
};

}  // namespace deeper::nets
