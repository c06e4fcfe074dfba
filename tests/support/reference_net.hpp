#pragma once
// A naive interpreter of nets::Graph in plain NCHW and double precision: the reference every
// engine op and every tiny net is checked against. Slow and obviously right.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nets/graph.hpp"

namespace deeper::test {

// params: plain tensors by name (PyTorch layout), e.g. "stage1.block1.conv1.weight".
// Dropout and drop-connect are the identity here (their masks are checked separately).
// Returns the activation of every node, plain NCHW, batch n.
using ParamMap = std::map<std::string, std::vector<double>>;
std::vector<std::vector<double>> reference_forward(const nets::Graph& g, const ParamMap& params,
                                                   const std::vector<double>& input, int n);

}  // namespace deeper::test
