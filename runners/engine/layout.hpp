#pragma once
// Memory-descriptor helpers shared by the layers.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <vector>

namespace deeper::runners {

using dnnl::memory;

// The plain (row-major) tag for a rank: a, ab, abc, abcd, abcde.
memory::format_tag plain_tag(int ndims);
memory::desc plain_desc(const memory::dims& dims, memory::data_type dt = memory::data_type::f32);
memory::desc any_desc(const memory::dims& dims, memory::data_type dt = memory::data_type::f32);
// The same layout (dims, blocking, strides) holding another data type.
memory::desc with_type(const memory::desc& d, memory::data_type dt);
int ndims(const memory::desc& d);
std::int64_t elems(const memory::desc& d);
// Physical size, padding included: in elements of the desc's own type, and in floats (rounded
// up: what an AlignedFloats buffer for it needs).
std::size_t physical_elems(const memory::desc& d);
std::size_t floats(const memory::desc& d);

// The same layout family (plain, nhwc-like, 16c- or 8c-blocked) and data type for new dims of
// equal rank.
memory::desc like(const memory::desc& layout, const memory::dims& dims);

// Physical offsets of logical 4D indices (n, c, h, w) in any blocked layout of rank 4. In
// oneDNN's blocked layouts the offset is a sum of one term per dimension, so four small
// tables turn every lookup into three additions.
class Indexer {
public:
    // `padded`: the tables also cover the padding of blocked layouts (channels 8..15 of an
    // 8-channel nChw16c), for writing it.
    explicit Indexer(const memory::desc& d, bool padded = false);
    std::int64_t operator()(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) const {
        return table_[0][n] + table_[1][c] + table_[2][h] + table_[3][w];
    }
    const std::vector<std::int64_t>& table(int dim) const { return table_[dim]; }
    // True when each sample is one contiguous chunk of physical_size / N.
    bool sample_major() const { return sample_major_; }
    // True when consecutive channels are adjacent in memory (nChw16c, nhwc).
    bool channels_innermost() const { return table_[1].size() < 2 || table_[1][1] - table_[1][0] == 1; }

private:
    std::vector<std::int64_t> table_[4];
    bool sample_major_ = false;
};

// oneDNN's blocked layouts pad channels to the block, and its kernels read that padding
// expecting zeros (a padded input channel times a zero weight is NaN when the padding holds
// NaN or inf bits left by another buffer of the arena). oneDNN's primitives write it; the
// engine's own loops call this after writing a buffer.
void zero_channel_padding(const memory& m);

// A counter-based uniform draw in [0, 1): the same (key, index) always gives the same value,
// whichever thread computes it.
inline float uniform_hash(std::uint64_t key, std::uint64_t index) {
    std::uint64_t z = key + 0x9E3779B97F4A7C15ull * (index + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return float(z >> 40) * (1.0f / 16777216.0f);
}

}  // namespace deeper::runners
