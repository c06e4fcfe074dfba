#include "runners/engine/layout.hpp"

#include <cstring>
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

memory::desc plain_desc(const memory::dims& dims, memory::data_type dt) {
    return memory::desc(dims, dt, plain_tag(int(dims.size())));
}

memory::desc any_desc(const memory::dims& dims, memory::data_type dt) {
    return memory::desc(dims, dt, memory::format_tag::any);
}

memory::desc with_type(const memory::desc& d, memory::data_type dt) {
    if (d.data_type() == dt) return d;
    if (d.data.format_kind != dnnl_blocked || d.data.extra.flags != 0)
        throw std::logic_error("with_type: needs a plain or blocked layout without extras");
    dnnl_memory_desc_t raw = d.data;  // strides count elements, so they stay as they are
    raw.data_type = static_cast<dnnl_data_type_t>(dt);
    return memory::desc(raw);
}

int ndims(const memory::desc& d) { return d.data.ndims; }

std::int64_t elems(const memory::desc& d) {
    std::int64_t n = 1;
    for (auto x : d.dims()) n *= x;
    return n;
}

std::size_t physical_elems(const memory::desc& d) {
    return d.get_size() / memory::data_type_size(d.data_type());
}

std::size_t floats(const memory::desc& d) { return (d.get_size() + sizeof(float) - 1) / sizeof(float); }

memory::desc like(const memory::desc& layout, const memory::dims& dims) {
    using tag = memory::format_tag;
    if (ndims(layout) == int(dims.size())) {
        for (tag t : {tag::abcd, tag::acdb, tag::aBcd16b, tag::aBcd8b, tag::ab}) {
            memory::dims probe = layout.dims();
            if (memory::desc(probe, layout.data_type(), t) == layout)
                return memory::desc(dims, layout.data_type(), t);
        }
    }
    return plain_desc(dims, layout.data_type());
}

Indexer::Indexer(const memory::desc& d, bool padded) {
    if (ndims(d) != 4 || d.data.format_kind != dnnl_blocked)
        throw std::logic_error("Indexer: needs a blocked 4D layout");
    const auto& b = d.data.format_desc.blocking;
    const int nblks = b.inner_nblks;
    // Inner blocks are listed outermost first; the last one varies fastest.
    std::int64_t inner_stride[DNNL_MAX_NDIMS] = {}, s = 1;
    for (int k = nblks - 1; k >= 0; --k) {
        inner_stride[k] = s;
        s *= b.inner_blks[k];
    }
    memory::dims dims = d.dims();
    if (padded) dims.assign(d.data.padded_dims, d.data.padded_dims + 4);
    for (int dim = 0; dim < 4; ++dim) {
        std::int64_t outer_block = 1;
        for (int k = 0; k < nblks; ++k)
            if (b.inner_idxs[k] == dim) outer_block *= b.inner_blks[k];
        auto& t = table_[dim];
        t.resize(dims[dim]);
        for (std::int64_t i = 0; i < dims[dim]; ++i) {
            std::int64_t off = (i / outer_block) * b.strides[dim];
            // A dim split into several inner blocks: the later blocks take the low digits.
            std::int64_t rest = i % outer_block;
            for (int k = nblks - 1; k >= 0; --k) {
                if (b.inner_idxs[k] != dim) continue;
                off += (rest % b.inner_blks[k]) * inner_stride[k];
                rest /= b.inner_blks[k];
            }
            t[i] = off;
        }
    }
    const std::int64_t n = d.dims()[0];
    sample_major_ = n > 0 && std::int64_t(physical_elems(d)) == b.strides[0] * n;
    for (int k = 1; k < 4 && sample_major_; ++k)
        if (b.strides[k] > b.strides[0]) sample_major_ = false;
}

void zero_channel_padding(const memory& m) {
    const memory::desc d = m.get_desc();
    if (ndims(d) != 4 || d.data.format_kind != dnnl_blocked) return;
    const std::int64_t C = d.dims()[1], Cp = d.data.padded_dims[1];
    if (Cp == C) return;
    const Indexer at(d, true);
    const auto dims = d.dims();
    const std::size_t size = memory::data_type_size(d.data_type());
    char* base = static_cast<char*>(m.get_data_handle());
#pragma omp parallel for collapse(2) schedule(static)
    for (std::int64_t n = 0; n < dims[0]; ++n)
        for (std::int64_t h = 0; h < dims[2]; ++h)
            for (std::int64_t w = 0; w < dims[3]; ++w)
                for (std::int64_t c = C; c < Cp; ++c) std::memset(base + at(n, c, h, w) * size, 0, size);
}

}  // namespace deeper::runners
