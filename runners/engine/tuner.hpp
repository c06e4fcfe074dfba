#pragma once
// Choosing each convolution's form by measuring it on this machine, as cuDNN's benchmark mode
// does: fixed rules chosen on one CPU are wrong on the next (oneDNN 2.6's bf16 convolutions
// are slower than fp32 on an Intel Xeon without AMX and about twice as fast on AMD Zen 4/5).
//
// Every conv is timed as the segment it runs in (the conv, the batch norm it feeds and that
// norm's activation, as the net compiles them: layouts, cropping, fusion), forward and both
// backward passes as the net needs them, in every candidate form: fp32 direct, Winograd
// (3x3 stride 1), im2col + matmul (small maps), and under bf16 precision the same in bf16;
// where a batch norm follows, the fastest form of each data type once more with the norm on
// the engine's own kernels (layers/bn_kernels.hpp). The fastest form of each is the plan.
// Segments of one shape are timed once; every time is cached on disk per machine
// (tune_cache.hpp). Then the whole training step with the plan is timed against the fixed
// rules', their steps taken in turn, which counts the conversions at the edges between
// precisions: the rules are kept unless the plan is at least 2% faster (plan_margin).
#include <memory>
#include <string>
#include <vector>

#include "nets/graph.hpp"
#include "runners/engine/conv_form.hpp"
#include "runners/engine/engine.hpp"

namespace deeper::runners {

struct TunedCandidate {
    ConvForm form;
    double ms = 0;  // the segment's fastest training step
    bool cached = false;
};

struct LayerTuning {
    std::string node;     // the conv
    std::string segment;  // what was timed: "conv 3x3/s1 16x32x32->16x32x32 + bn + relu"
    std::vector<TunedCandidate> candidates;
    ConvForm chosen;
};

struct Tuning {
    ConvPlan plan;  // empty when the fixed rules were faster in the whole net
    std::vector<LayerTuning> layers;
    double tuned_step_ms = 0, rules_step_ms = 0;  // the whole-net check
    int measured = 0, cached = 0;                 // timings taken now / read from the cache
    double seconds = 0;                           // spent tuning
};

// The plan for `g` compiled with `o` (its batch, precision, frozen prefixes and threads: the
// current OpenMP setting). Notes (what was measured, cache trouble) go to o.tune.on_note.
Tuning tune_conv_plan(const nets::Graph& g, const EngineOptions& o);

// The engine the tuner times conv node `conv` of `g` in, in `form`: the conv as the net runs
// it (its batch norm and activation after it; fed by a layer, after an untimed 1x1 conv
// "pre" producing its input in type `fed`, so that it reads a layer's layout and computes its
// data gradient where the net does). Counted: the nodes from first_timed_node on.
struct TimedSegment {
    std::unique_ptr<Engine> engine;
    int first_timed_node = 1;
};
TimedSegment timed_segment(const nets::Graph& g, int conv, const EngineOptions& o, const ConvForm& form,
                           dnnl::memory::data_type fed);

// The forms the tuner times for a conv node under precision `p` (see the top of this file).
std::vector<ConvForm> candidate_forms(const nets::Node& conv, Precision p);

// The per-layer table `deeper bench --layers` prints: each conv's candidates, their times
// and the choice, then the whole-net check.
std::string tuning_table(const Tuning& t);

}  // namespace deeper::runners
