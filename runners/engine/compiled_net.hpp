#pragma once
// A graph compiled for one batch size and one mode (training: forward_training + backward;
// inference: forward_inference). Owns its layers, the planned arena and the edge buffers.
#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <string>
#include <vector>

#include "nets/graph.hpp"
#include "runners/engine/layer.hpp"
#include "runners/engine/memory_plan.hpp"
#include "runners/engine/param_store.hpp"

namespace deeper::runners {

struct CompileOptions {
    int batch = 32;
    bool training = true;
    bool plain_layouts = false;  // plain NCHW everywhere (tests compare both)
    bool input_grad = false;     // also compute d(loss)/d(input)
    ConvAlgorithm conv_algorithm = ConvAlgorithm::automatic;
    Precision precision = Precision::f32;
    bool keep_fp32_where_faster = true;  // see LayerContext
    bool share_memory = true;    // false: no arena sharing, shared shortcut gradients nor
                                 // residual sums written by the layer before the add, so
                                 // read_node() sees every activation and gradient
    bool fuse_bn_relu = true;    // false: BN, ReLU and residual adds run apart (A/B checks)
    bool crop_kernels = true;    // false: every kernel runs uncut (see ConvLayer)
    bool gemm_convs = true;      // false: no conv runs as im2col + matmul unless asked (see ConvLayer)
    ConvPlan conv_plan;          // measured forms by node name (tuner.hpp); the rules elsewhere
    bool poison = false;         // tests: the arena starts as NaN (see EngineOptions)
    std::vector<std::string> frozen;  // node-name prefixes that get no gradient
    std::uint64_t seed = 0;
};

// Whether a node is under one of the `frozen` prefixes ("stem" freezes "stem.conv", not "stem2").
bool frozen_by(const std::string& node_name, const std::vector<std::string>& frozen);

// Which nodes' outputs get a gradient in training: trainable nodes (conv, linear, batch norm
// not under a frozen prefix) and everything downstream of them, or of the input when
// `input_grad`, among the nodes that reach an output.
std::vector<bool> nodes_needing_gradient(const nets::Graph& g, const std::vector<std::string>& frozen,
                                         bool input_grad);

class CompiledNet {
public:
    CompiledNet(const nets::Graph& g, const CompileOptions& o, ParamStore& store,
                const dnnl::engine& eng, dnnl::stream& s);
    ~CompiledNet();

    float* input() { return input_.data(); }
    void forward();
    void backward();  // training nets only
    float* output(int i) { return out_plain_.at(i).data(); }
    float* output_grad(int i) { return out_grad_plain_.at(i).data(); }
    const memory::desc& output_desc(int i) const { return out_desc_.at(i); }
    float* input_grad() { return input_grad_.data(); }

    void set_step(std::uint64_t s) { step_ = s; }
    std::uint64_t step() const { return step_; }
    std::size_t arena_bytes() const { return arena_bytes_; }
    std::size_t naive_bytes() const { return naive_bytes_; }
    int backward_primitives_run() const { return bwd_count_; }
    bool runs_backward(int node) const;  // any backward work planned for this node
    // An add whose sum the layer before it writes (LayerContext::summed_by_producer).
    bool summed_by_producer(int node) const;
    // A layer that adds the last part of its output's gradient itself (LayerContext::grad_part).
    bool takes_grad_part(int node) const;
    int backward_runs(int node) const;   // backward primitives the node ran in the last backward()
    // A node's activation, or its gradient after backward(), in plain layout (for debugging
    // and parity checks; empty when the node has no gradient).
    std::vector<float> read_node(int node, bool gradient);
    bool training() const { return opt_.training; }
    // Per-node wall time (ms, forward + backward, summed over the steps since it was turned on;
    // the tuner's measurement): on = a zeroed count per node, off = no timing (the default).
    void time_nodes(bool on) { node_ms_.assign(on ? node_count() : 0, 0.0); }
    const std::vector<double>& node_ms() const { return node_ms_; }

private:
    void bind_outputs();  // the plain-layout copies of the outputs and their gradients
    friend class NodeContext;
    struct Impl;
    std::unique_ptr<Impl> impl_;
    CompileOptions opt_;
    std::uint64_t step_ = 0;
    std::size_t arena_bytes_ = 0, naive_bytes_ = 0;
    int bwd_count_ = 0;
    std::vector<double> node_ms_;
    std::size_t node_count() const;
    AlignedFloats input_, input_grad_;
    std::vector<AlignedFloats> out_plain_, out_grad_plain_;
    std::vector<memory::desc> out_desc_;
};

}  // namespace deeper::runners
