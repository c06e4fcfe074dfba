#pragma once
// NumPy's .npy format (version 1.0, little-endian float32, C order), for arrays another tool
// reads with numpy.load: `deeper eval --inputs/--logits` for parity checks.
#include <cstdint>
#include <string>
#include <vector>

namespace deeper::runners {

// Written atomically (a temporary file renamed over `path`); `values` holds the product of
// `shape` floats.
void write_npy(const std::string& path, const std::vector<std::int64_t>& shape, const std::vector<float>& values);

}  // namespace deeper::runners
