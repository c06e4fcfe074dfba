#pragma once
// Checkpoints in the safetensors format (8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw data), readable by the
// Python `safetensors` package and by PyTorch. F32 tensors, and I64 ones (PyTorch's BN
// num_batches_tracked) held as floats; string metadata.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace deeper::runners {

struct Tensor {
    std::vector<std::int64_t> shape;
    std::vector<float> data;
    bool int64 = false;  // stored as I64 in the file (whole numbers below 2^24 here)
};

struct SafeTensors {
    std::map<std::string, Tensor> tensors;
    std::map<std::string, std::string> metadata;
};

// "64x3x7x7" ("scalar" for no dimensions), for messages.
std::string shape_text(const std::vector<std::int64_t>& shape);
// How many of the tensor's values are NaN or infinite.
std::size_t non_finite_count(const Tensor& t);

// Written to a temporary file beside `path`, flushed to disk, then renamed over it: a crash
// leaves either the old checkpoint or the new one, never half of one.
void write_safetensors(const std::string& path, const SafeTensors& st);
// Throws InputError naming the file for anything malformed.
SafeTensors read_safetensors(const std::string& path);
// The metadata alone: reads only the header, however large the tensors.
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);

}  // namespace deeper::runners
