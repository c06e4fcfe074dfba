#include "runners/engine/engine.hpp"
#include "runners/engine/tuner.hpp"

#include <omp.h>

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace deeper::runners {

Engine::Engine(nets::Graph g, EngineOptions o)
    : graph_(std::move(g)), opt_(std::move(o)), eng_(dnnl::engine::kind::cpu, 0), stream_(eng_) {
    if (opt_.threads > 0) omp_set_num_threads(opt_.threads);
    threads_ = omp_get_max_threads();
    if (opt_.tune.mode != TuneMode::off && opt_.training && !opt_.plain_layouts && opt_.conv_plan.empty() &&
        opt_.conv_algorithm == ConvAlgorithm::automatic) {
        tuning_ = std::make_unique<Tuning>(tune_conv_plan(graph_, opt_));
        opt_.conv_plan = tuning_->plan;
    }
    // compiled now, so that the parameter store exists for whoever loads weights into it
    if (opt_.training) train_net();
    else infer_net();
}

Engine::~Engine() = default;

CompileOptions Engine::compile_options(bool training) const {
    CompileOptions c;
    c.batch = opt_.batch;
    c.training = training;
    c.plain_layouts = opt_.plain_layouts;
    c.conv_algorithm = opt_.conv_algorithm;
    c.precision = opt_.precision;
    c.keep_fp32_where_faster = opt_.keep_fp32_where_faster;
    c.share_memory = opt_.share_memory;
    c.fuse_bn_relu = opt_.fuse_bn_relu;
    c.crop_kernels = opt_.crop_kernels;
    c.gemm_convs = opt_.gemm_convs;
    c.conv_plan = opt_.conv_plan;
    c.poison = opt_.poison;
    c.seed = opt_.seed;
    if (training) {
        c.input_grad = opt_.input_grad;
        c.frozen = opt_.frozen;
    }
    return c;
}

CompiledNet& Engine::train_net() {
    if (!train_) train_ = std::make_unique<CompiledNet>(graph_, compile_options(true), store_, eng_, stream_);
    return *train_;
}

CompiledNet& Engine::infer_net() {
    if (!infer_) infer_ = std::make_unique<CompiledNet>(graph_, compile_options(false), store_, eng_, stream_);
    return *infer_;
}

float* Engine::input() {
    // Both nets read the same batch: the inference net copies from the training one's buffer.
    return opt_.training ? train_net().input() : infer_net().input();
}

std::size_t Engine::input_floats() const {
    const auto s = graph_.input_shape();
    return std::size_t(opt_.batch) * s.c * s.h * s.w;
}

void Engine::forward(bool training) {
    CompiledNet& net = training ? train_net() : infer_net();
    if (!training && opt_.training) {
        std::copy(train_->input(), train_->input() + input_floats(), net.input());
    }
    net.set_step(step_);
    net.forward();
    last_ = &net;
}

void Engine::backward() {
    if (last_ != train_.get()) throw std::logic_error("backward() needs a training forward first");
    train_->backward();
}

const float* Engine::output(int i) {
    if (!last_) throw std::logic_error("output() before forward()");
    return last_->output(i);
}

float* Engine::output_grad(int i) { return train_net().output_grad(i); }

memory::dims Engine::output_dims(int i) const {
    const CompiledNet* n = last_ ? last_ : (train_ ? train_.get() : infer_.get());
    return n->output_desc(i).dims();
}

float* Engine::input_grad() { return train_net().input_grad(); }

void Engine::set_step(std::uint64_t s) { step_ = s; }

LossStats Engine::loss(const std::int32_t* labels, float smoothing) {
    CompiledNet& net = train_net();
    LossStats main;
    for (size_t i = 0; i < graph_.outputs.size(); ++i) {
        const auto d = net.output_desc(int(i)).dims();
        const int n = int(d[0]);
        int k = 1;
        for (size_t j = 1; j < d.size(); ++j) k *= int(d[j]);
        const float w = graph_.output_loss_weights.at(i);
        LossStats s = softmax_cross_entropy(net.output(int(i)), labels, n, k, smoothing, w,
                                            net.output_grad(int(i)));
        if (i == 0) main = s;
        else main.loss += w * s.loss;
    }
    return main;
}

LossStats Engine::train_step(const std::int32_t* labels, float smoothing) {
    forward(true);
    LossStats s = loss(labels, smoothing);
    backward();
    return s;
}

std::string cpu_isa_name() {
    using dnnl::cpu_isa;
    switch (dnnl::get_effective_cpu_isa()) {
        case cpu_isa::sse41: return "sse41";
        case cpu_isa::avx: return "avx";
        case cpu_isa::avx2: return "avx2";
        case cpu_isa::avx2_vnni: return "avx2_vnni";
        case cpu_isa::avx512_mic: return "avx512_mic";
        case cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
        case cpu_isa::avx512_core: return "avx512_core";
        case cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
        case cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
        case cpu_isa::avx512_core_amx: return "avx512_core_amx";
        default: return "other";
    }
}

}  // namespace deeper::runners
