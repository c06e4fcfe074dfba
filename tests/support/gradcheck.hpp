#pragma once
// One checker for every op and every tiny net (dlib's test_layer, ggml's test-backend-ops):
// the engine's forward against the naive double-precision reference interpreter, and its
// backward (input and parameter gradients) against central finite differences of
// L = sum(R * outputs) for a random R.
//
// Under bf16 precision the same checks run with tolerances for bf16's 8-bit significand
// (unit roundoff u = 2^-9 = 0.2%): every stored activation, bf16 weight copy and activation
// gradient is rounded once, two to three roundings per layer in each direction, so the few
// layers of a test net stay within 10-25 u = 2-5% of the double-precision reference. Rounding
// errors scale with the terms summed, not with a sum that cancels, so a gradient coordinate is
// compared relative to at least half its tensor's RMS (fp32: a tenth).
// Whole nets are compared with the engine's own fp32 gradients, tensor by tensor and normwise
// (bf16_against_fp32): past a few layers single coordinates drift, and a ReLU or max-pool
// input within rounding of its kink decides the other way in bf16, taking or dropping that
// element's whole gradient (measured: a 7-layer residual BN net, 1.3-2% normwise with swish,
// 10-26% with ReLU). Graphs with dropout masks are compared the same way (same masks).
//
// The differences are taken on the reference, in double precision with a tiny step: engine
// floats would force a step large enough for ReLU and max-pool kinks to spoil the estimate.
// The forward check ties the reference to the engine. Graphs with dropout masks take the
// differences on the engine itself (engine_differences), with its float-sized steps.
#include <string>

#include "nets/graph.hpp"
#include "runners/engine/layer.hpp"

namespace deeper::test {

struct GradcheckOptions {
    int batch = 2;
    bool plain_layouts = false;
    int probes = 10;          // coordinates checked per tensor
    double rtol = 0.01;       // relative to the larger of the two gradients (floor: rms_floor x RMS)
    double rms_floor = 0.1;
    double fwd_rtol = 1e-4;   // forward against the reference, relative to max |output|
    bool engine_differences = false;  // for dropout masks, which the reference does not draw
    runners::ConvAlgorithm conv_algorithm = runners::ConvAlgorithm::automatic;
    runners::ConvPlan conv_plan;  // forms by node name, as the tuner gives them
    runners::Precision precision = runners::Precision::f32;
    bool bf16_against_fp32 = false;  // bf16: normwise against the engine's fp32 gradients
    bool share_memory = true;        // false: every buffer its own memory (accumulation bugs show)
    bool poison = true;              // buffers start as NaN; every output and gradient must be finite
    bool also_bf16 = true;           // gradcheck_both_layouts: also in bf16 where the CPU has it
    double bf16_norm_rtol = 0.05;    // ... within this, per tensor
    unsigned seed = 7;
};

// Runs every check, reporting failures through Catch2.
void gradcheck(const nets::Graph& g, const GradcheckOptions& o = {});
// The options with bf16 precision and its tolerances.
GradcheckOptions bf16_options(GradcheckOptions o);
// The same in oneDNN's blocked layouts and in plain NCHW, in fp32 (blocked also without memory
// sharing), then in bf16 when the CPU has bf16 instructions (with the bf16 tolerances).
void gradcheck_both_layouts(const nets::Graph& g, GradcheckOptions o = {});

}  // namespace deeper::test
