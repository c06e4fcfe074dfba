#include "runners/engine/memory_plan.hpp"

#include <algorithm>
#include <cstdlib>
#include <numeric>

namespace deeper::runners {

int MemoryPlan::add(std::size_t bytes, int first, int last) {
    buffers_.push_back({bytes, 0, std::min(first, last), std::max(first, last)});
    return int(buffers_.size()) - 1;
}

void MemoryPlan::extend(int id, int step) {
    Buffer& b = buffers_.at(id);
    b.first = std::min(b.first, step);
    b.last = std::max(b.last, step);
}

std::size_t MemoryPlan::naive_bytes() const {
    std::size_t s = 0;
    for (const auto& b : buffers_) s += b.bytes;
    return s;
}

std::size_t MemoryPlan::place(std::size_t alignment, bool share) {
    auto round_up = [&](std::size_t v) { return (v + alignment - 1) / alignment * alignment; };
    std::vector<int> order(buffers_.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return buffers_[a].bytes > buffers_[b].bytes; });
    std::vector<int> placed;
    std::size_t arena = 0;
    if (!share) {
        for (auto& b : buffers_) {
            b.offset = arena;
            arena += round_up(std::max<std::size_t>(b.bytes, 1));
        }
        return arena;
    }
    for (int id : order) {
        Buffer& b = buffers_[id];
        const std::size_t need = round_up(std::max<std::size_t>(b.bytes, 1));
        // Buffers alive at the same time, by offset: find the lowest gap that fits.
        std::vector<const Buffer*> live;
        for (int p : placed) {
            const Buffer& o = buffers_[p];
            if (o.first <= b.last && b.first <= o.last) live.push_back(&o);
        }
        std::sort(live.begin(), live.end(),
                  [](const Buffer* x, const Buffer* y) { return x->offset < y->offset; });
        std::size_t at = 0;
        for (const Buffer* o : live) {
            if (o->offset >= at + need) break;
            at = std::max(at, o->offset + round_up(std::max<std::size_t>(o->bytes, 1)));
        }
        b.offset = at;
        arena = std::max(arena, at + need);
        placed.push_back(id);
    }
    return arena;
}

}  // namespace deeper::runners
