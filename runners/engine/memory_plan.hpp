#pragma once
// One arena for every activation, gradient, workspace and temporary of a compiled net: each
// buffer has a lifetime [first, last] in step order (forward steps, then backward steps), and
// buffers whose lifetimes do not overlap share memory. Offsets come from the greedy-by-size
// placement used by TFLite's arena planner: largest first, lowest offset that fits.
#include <cstddef>
#include <vector>

namespace deeper::runners {

class MemoryPlan {
public:
    // Returns the buffer's id. Lifetimes are inclusive; extend() widens one later.
    int add(std::size_t bytes, int first, int last);
    void extend(int id, int step);
    std::size_t bytes(int id) const { return buffers_.at(id).bytes; }

    // Places every buffer; returns the arena size in bytes. share = false gives every buffer
    // its own memory (so activations survive backward, for inspection).
    std::size_t place(std::size_t alignment = 64, bool share = true);
    std::size_t offset(int id) const { return buffers_.at(id).offset; }
    std::size_t naive_bytes() const;  // what separate allocations would take

private:
    struct Buffer {
        std::size_t bytes = 0, offset = 0;
        int first = 0, last = 0;
    };
    std::vector<Buffer> buffers_;
};

}  // namespace deeper::runners
