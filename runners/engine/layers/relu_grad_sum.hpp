#pragma once
// A ReLU's backward that also adds the last part of its output's gradient: at a residual
// block's input, the gradient is the shortcut's (already in the buffer) plus the part from the
// branch's first conv, which arrives last. Summed as a reorder with a sum post-op and then
// masked by oneDNN's ReLU backward, that is 6 passes over memory; here it is 4:
// dy = (dy + part) * (y > 0), over every element of one layout (padding lanes included: there y
// is 0 and so is the result).
#include <cstddef>

#include <oneapi/dnnl/dnnl.hpp>

namespace deeper::runners::layers {

// This CPU has the instructions the kernel needs for data of type t (channels_innermost.hpp's
// test: AVX-512, and AVX512-BF16 for bf16).
bool relu_grad_sum_runs_here(dnnl::memory::data_type t);

// y, part and dy share one memory descriptor of `elems` elements (its size in bytes / the
// element size), fp32 or bf16.
void relu_grad_sum(const void* y, const void* part, void* dy, std::size_t elems, bool bf16);

}  // namespace deeper::runners::layers
