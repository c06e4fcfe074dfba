#include "runners/engine/layout.hpp"

#include <stdexcept>

namespace deeper::runners {

memory::format_tag plain_tag(int n) {
    using tag = memory::format_tag;
    switch (n) {
        case 1: return tag::a;
        case 2: return tag::ab;
        case 3: return tag::abc;
        case 4: return tag::abcd;
        case 5: return tag::abcde;
    }
    throw std::logic_error("plain_tag: unsupported rank");
}

memory::desc plain_desc(const memory::dims& dims) {
    return memory::desc(dims, memory::data_type::f32, plain_tag(int(dims.size())));
}

memory::desc any_desc(const memory::dims& dims) {
    return memory::desc(dims, memory::data_type::f32, memory::format_tag::any);
}

int ndims(const memory::desc& d) { return d.data.ndims; }

std::int64_t elems(const memory::desc& d) {
    std::int64_t n = 1;
    for (auto x : d.dims()) n *= x;
    return n;
}

std::size_t floats(const memory::desc& d) { return d.get_size() / sizeof(float); }

memory::desc like(const memory::desc& layout, const memory::dims& dims) {
    using tag = memory::format_tag;
    if (ndims(layout) == int(dims.size())) {
        for (tag t : {tag::abcd, tag::acdb, tag::aBcd16b, tag::aBcd8b, tag::ab}) {
            memory::dims probe = layout.dims();
            if (memory::desc(probe, memory::data_type::f32, t) == layout)
                return memory::desc(dims, memory::data_type::f32, t);
        }
    }
    return plain_desc(dims);
}

Indexer::Indexer(const memory::desc& d) {
    if (ndims(d) != 4 || d.data.format_kind != dnnl_blocked)
        throw std::logic_error("Indexer: needs a blocked 4D layout");
    const auto& b = d.data.format_desc.blocking;
    for (int k = 0; k < 4; ++k) stride_[k] = b.strides[k];
    inner_n_ = b.inner_nblks;
    // Inner blocks are listed outermost first; the last one varies fastest.
    std::int64_t s = 1;
    for (int k = inner_n_ - 1; k >= 0; --k) {
        inner_blk_[k] = b.inner_blks[k];
        inner_dim_[k] = int(b.inner_idxs[k]);
        inner_stride_[k] = s;
        s *= b.inner_blks[k];
    }
    // A dim split into several inner blocks: the later ones take the low digits.
    for (int k = 0; k < inner_n_; ++k) {
        std::int64_t div = 1;
        for (int j = k + 1; j < inner_n_; ++j)
            if (inner_dim_[j] == inner_dim_[k]) div *= inner_blk_[j];
        inner_div_[k] = div;
        outer_block_[inner_dim_[k]] *= inner_blk_[k];
    }
    const std::int64_t n = d.dims()[0];
    sample_major_ = n > 0 && std::int64_t(floats(d)) == stride_[0] * n;
    for (int k = 1; k < 4 && sample_major_; ++k)
        if (stride_[k] > stride_[0]) sample_major_ = false;
}

}  // namespace deeper::runners
