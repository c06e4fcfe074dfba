#pragma once
// An engine's parameters and BN running statistics as PyTorch-shaped tensors (conv O x I x kH x
// kW, linear out x in) under deeper's names: what a checkpoint, a dump and an export hold.
#include <string>

#include "runners/engine/engine.hpp"
#include "runners/train/safetensors.hpp"

namespace deeper::runners {

// Adds each as `prefix` + name ("param." for a dump, "" for weights).
void add_param_tensors(Engine& e, SafeTensors& out, const std::string& prefix = "");

}  // namespace deeper::runners
