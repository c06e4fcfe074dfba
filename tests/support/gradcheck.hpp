#pragma once
// One checker for every op and every tiny net (dlib's test_layer, ggml's test-backend-ops):
// the engine's forward against the naive double-precision reference interpreter, and its
// backward (input and parameter gradients) against central finite differences of
// L = sum(R * outputs) for a random R.
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
    double rtol = 0.01;       // relative to the larger of the two gradients (floor: 0.1 x RMS)
    double fwd_rtol = 1e-4;   // forward against the reference, relative to max |output|
    bool engine_differences = false;  // for dropout masks, which the reference does not draw
    runners::ConvAlgorithm conv_algorithm = runners::ConvAlgorithm::automatic;
    unsigned seed = 7;
};

// Runs every check, reporting failures through Catch2.
void gradcheck(const nets::Graph& g, const GradcheckOptions& o = {});
// The same in oneDNN's blocked layouts and in plain NCHW.
void gradcheck_both_layouts(const nets::Graph& g, GradcheckOptions o = {});

}  // namespace deeper::test
