#pragma once
// The oneDNN training engine: a nets::Graph compiled for a batch size into training
// (forward + backward) and inference primitives that share one parameter store.
// Construct it on the thread that will run it: oneDNN bakes the thread count into each
// primitive, so the engine sets omp_set_num_threads(threads) before creating any.
#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <string>
#include <vector>

#include "nets/graph.hpp"
#include "runners/engine/compiled_net.hpp"
#include "runners/engine/loss.hpp"
#include "runners/engine/param_store.hpp"
#include "runners/engine/tune_options.hpp"

namespace deeper::runners {

struct EngineOptions {
    int batch = 32;
    int threads = 0;  // 0: keep the current OpenMP setting
    bool training = true;
    bool plain_layouts = false;
    bool input_grad = false;
    ConvAlgorithm conv_algorithm = ConvAlgorithm::automatic;
    Precision precision = Precision::f32;
    bool keep_fp32_where_faster = true;  // under bf16 (see LayerContext)
    bool share_memory = true;  // false keeps every activation readable after backward
    bool fuse_bn_relu = true;  // false: BN, ReLU and residual adds apart
    bool crop_kernels = true;  // false: kernels larger than their maps run uncut
    bool gemm_convs = true;    // false: bf16 convs on small maps stay oneDNN convolutions
    // Tests: every activation, gradient and temporary starts as NaN (all bits set: NaN in fp32
    // and bf16), so a read before a write, or an accumulation into a buffer that should have
    // been overwritten, shows as NaN (dlib's test_layer).
    bool poison = false;
    std::uint64_t seed = 0;
    std::vector<std::string> frozen;  // node-name prefixes with gradient calculation off
    // The convs' forms: measured at compile (tune.mode cached or force, training engines on
    // oneDNN's layouts only) unless conv_plan is given (a resumed run's recorded plan).
    TuneOptions tune;
    ConvPlan conv_plan;
};

struct Tuning;

class Engine {
public:
    Engine(nets::Graph g, EngineOptions o);
    ~Engine();

    const nets::Graph& graph() const { return graph_; }
    int batch() const { return opt_.batch; }
    int threads() const { return threads_; }

    // The batch, plain NCHW, written by the caller before forward().
    float* input();
    std::size_t input_floats() const;

    void forward(bool training);
    void backward();
    // softmax cross-entropy over every output (auxiliary heads with their loss weights);
    // writes the output gradients. Stats are the main head's.
    LossStats loss(const std::int32_t* labels, float smoothing = 0.f);
    // forward(true) + loss + backward()
    LossStats train_step(const std::int32_t* labels, float smoothing = 0.f);

    // Plain outputs of the last forward, of the mode it ran in.
    const float* output(int i = 0);
    float* output_grad(int i = 0);
    memory::dims output_dims(int i = 0) const;
    float* input_grad();

    ParamStore& params() { return store_; }
    void set_step(std::uint64_t s);
    std::uint64_t step() const { return step_; }

    // The plan the nets were compiled with (empty: the fixed rules), and how it was measured
    // (null when it was given or not tuned).
    const ConvPlan& conv_plan() const { return opt_.conv_plan; }
    const Tuning* tuning() const { return tuning_.get(); }

    CompiledNet& train_net();
    CompiledNet& infer_net();
    const dnnl::engine& dnnl_engine() const { return eng_; }
    dnnl::stream& stream() { return stream_; }

private:
    CompileOptions compile_options(bool training) const;
    nets::Graph graph_;
    EngineOptions opt_;
    int threads_ = 1;
    dnnl::engine eng_;
    dnnl::stream stream_;
    ParamStore store_;
    std::unique_ptr<Tuning> tuning_;
    std::unique_ptr<CompiledNet> train_, infer_;
    CompiledNet* last_ = nullptr;
    std::uint64_t step_ = 0;
};

// The instruction set oneDNN dispatches to on this machine, e.g. "avx512_core_amx".
std::string cpu_isa_name();

}  // namespace deeper::runners
