#pragma once
// A Layer runs one graph node on oneDNN primitives. Compiling a net takes three passes over
// its layers: define() creates the primitive descriptors and says what memory the layer needs
// and when; the engine then plans one arena for all of it; bind() wraps the planned memory and
// builds every primitive and argument map, so forward() and backward() allocate nothing.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "nets/graph.hpp"
#include "runners/engine/conv_form.hpp"
#include "runners/engine/param_store.hpp"
#include "runners/engine/precision.hpp"

namespace deeper::runners {

using dnnl::memory;
using Args = std::unordered_map<int, memory>;

class CompiledNet;

// auto: the form the tuner's plan gives a conv (LayerContext::conv_form), else the fixed
// rules: Winograd where it was measured faster (3x3, stride 1, enough channels), im2col +
// matmul for 128+ channels on small maps under bf16 on AMX, else direct. gemm: im2col + matmul
// wherever it applies (groups of 1, oneDNN's layouts); winograd_f2: the engine's Winograd
// F(2x2, 3x3) wherever it applies (3x3, stride 1, groups of 1, oneDNN's layouts).
enum class ConvAlgorithm { automatic, direct, winograd, gemm, winograd_f2 };

// What a layer sees of the net being compiled; implemented by the engine.
class LayerContext {
public:
    virtual ~LayerContext() = default;

    // ---- define() ----
    virtual const dnnl::engine& eng() const = 0;
    virtual bool training() const = 0;
    virtual bool plain_layouts() const = 0;
    virtual ConvAlgorithm conv_algorithm() const = 0;
    virtual Precision precision() const = 0;
    // Under bf16: keep the convs fp32 where that was measured faster (false: tests check every
    // op in bf16).
    virtual bool keep_fp32_where_faster() const = 0;
    // Convolutions run cut to the kernel taps that meet the map (CompileOptions::crop_kernels).
    virtual bool crop_kernels() const = 0;
    // ConvAlgorithm::automatic may run convs as im2col + matmul (CompileOptions::gemm_convs).
    virtual bool gemm_convs() const = 0;
    // The form the plan (CompileOptions::conv_plan) gives this node, or null: the fixed rules.
    // Only under ConvAlgorithm::automatic (an algorithm asked for by name wins).
    virtual const ConvForm* conv_form() const = 0;
    // A batch norm: the plan gives the conv feeding it the engine's own batch-norm kernels.
    virtual bool own_bn_kernels() const = 0;
    // Input 0's layer runs this one too (Layer::runs_its_consumer, set by that layer's
    // define): this layer is then an identity.
    virtual bool run_by_producer() const = 0;
    // This add's sum is written by its input 0's layer (Layer::can_sum_into_output, granted by
    // the engine) into the memory both outputs share: the add's forward does nothing.
    virtual bool summed_by_producer() const = 0;
    virtual int batch() const = 0;
    virtual const nets::Node& node() const = 0;
    virtual const nets::Graph& graph() const = 0;
    virtual int inputs() const = 0;
    virtual const memory::desc& in_desc(int i) const = 0;
    virtual bool input_needs_grad(int i) const = 0;
    virtual bool needs_backward() const = 0;  // weight grads or any input grad
    // A parameter tensor; returns its id in the store (looked up by name when it exists).
    virtual int param(ParamInfo info) = 0;
    virtual bool trainable(int param_id) const = 0;
    // Memory of the layer's own, with a lifetime: from this forward step to this backward step
    // (workspaces, masks), within the forward step only, or within the backward step only.
    enum class Life { fwd_to_bwd, fwd, bwd };
    virtual int buffer(const memory::desc& d, Life life) = 0;
    virtual void need_input_in_backward(int i) = 0;
    virtual void need_output_in_backward() = 0;
    virtual void set_diff_src_desc(int i, const memory::desc& d) = 0;  // default: in_desc(i)
    virtual dnnl::primitive_attr attr() const = 0;  // user scratchpad mode
    virtual void scratchpad(const memory::desc& d) = 0;

    // ---- bind() and after ----
    virtual memory input(int i) = 0;
    virtual memory output() = 0;
    virtual memory diff_dst() = 0;
    virtual memory diff_src(int i) = 0;  // where backward writes the gradient of input i
    // The residual sum the engine gave this layer (Layer::can_sum_into_output): the other input
    // of the add its output feeds, to add before storing, and whether the ReLU after that add
    // runs too. Null when the add runs apart.
    struct ResidualSum {
        memory other;
        bool relu = false;
    };
    virtual std::optional<ResidualSum> residual_sum() = 0;
    // The last part of this layer's output gradient, which the engine left to it
    // (Layer::can_take_grad_part) instead of adding it to diff_dst itself: to add in backward,
    // before anything reads diff_dst. Null when the engine added every part.
    virtual std::optional<memory> grad_part() = 0;
    virtual memory buffer_memory(int id, const memory::desc& d) = 0;
    virtual memory scratchpad_memory() = 0;
    // The parameter in the layout `want` (a copy kept fresh when that differs from storage).
    virtual memory weights(int param_id, const memory::desc& want) = 0;
    virtual memory param_memory(int param_id) = 0;
    // Where to write the parameter's gradient in layout `have`; call finish_grads() after.
    virtual memory grad_memory(int param_id, const memory::desc& have) = 0;
    virtual void finish_grads() = 0;
    virtual dnnl::stream& stream() = 0;
    virtual std::uint64_t step() const = 0;
    virtual std::uint64_t seed() const = 0;
    virtual ParamStore& store() = 0;
    virtual void count_backward_primitive() = 0;
};

// An input read in another layout or data type than it arrives in (a conv's blocked bf16 src
// from a plain fp32 input): a buffer of the layer's own and the reorder that fills it.
class InputCopy {
public:
    // define(): plans the buffer when `want` differs from input i's layout. keep_for_backward:
    // the backward pass reads it, so the copy (or, without one, the input) lives until then.
    void define(LayerContext& c, int input, const memory::desc& want, bool keep_for_backward);
    // bind(): the memory the layer reads (the input itself when no copy is needed).
    memory bind(LayerContext& c);
    void run(LayerContext& c) const {
        if (buf_ >= 0) prim_.execute(c.stream(), args_);
    }
    bool copies() const { return buf_ >= 0; }

private:
    int input_ = 0, buf_ = -1;
    memory::desc want_;
    dnnl::primitive prim_;
    Args args_;
};

class Layer {
public:
    virtual ~Layer() = default;
    // Returns the output's memory descriptor.
    virtual memory::desc define(LayerContext& c) = 0;
    virtual void bind(LayerContext& c) {}
    virtual void forward(LayerContext& c) = 0;
    virtual void backward(LayerContext& c) {}

    // An identity passes its input through untouched (flatten, dropout at inference, an
    // activation the layer before it runs): no memory, no work, gradients pass through.
    bool identity = false;
    // Output may overwrite input 0 (the engine decides whether it is safe).
    bool inplace_ok = false;
    // Every input's gradient is the output's gradient (add, identity): the engine routes it
    // without running anything when it can.
    bool passes_grad = false;
    // The one layer reading this output runs inside this one (a batch norm or add with the
    // ReLU after it; a batch norm on the engine's kernels with its ReLU6 or swish): set by
    // define() at the latest, read by the consumer's define (LayerContext::run_by_producer).
    bool runs_its_consumer = false;
    // The layer can add the other input of the add that alone reads its output, and run that
    // add's ReLU, as it stores the output (a batch norm on the engine's kernels without an
    // activation of its own, as at the end of a residual branch): set by define(). The engine
    // grants it where that input is computed before this layer and in its layout
    // (LayerContext::residual_sum).
    bool can_sum_into_output = false;
    // The backward can add one more part of the output's gradient in the pass that reads that
    // gradient (an add with a ReLU, which masks it: LayerContext::grad_part). Set by define().
    bool can_take_grad_part = false;
};

std::unique_ptr<Layer> make_layer(const nets::Node& n, const nets::Graph& g, bool fuse_bn_relu);

}  // namespace deeper::runners
