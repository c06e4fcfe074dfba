#include "runners/memory_budget.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "nets/error.hpp"

namespace deeper::runners {

namespace {

std::optional<std::uint64_t> read_number(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    if (!(f >> s) || s == "max") return std::nullopt;
    try {
        return std::stoull(s);
    } catch (...) {
        return std::nullopt;
    }
}

std::optional<std::uint64_t> mem_available() {
    std::ifstream f("/proc/meminfo");
    std::string key, unit;
    std::uint64_t kb = 0;
    while (f >> key >> kb >> unit)
        if (key == "MemAvailable:") return kb * 1024;
    return std::nullopt;
}

// Limit minus usage of this process's memory cgroup (v2, or v1's memory controller).
std::optional<std::uint64_t> cgroup_room() {
    std::ifstream f("/proc/self/cgroup");
    std::string line;
    while (std::getline(f, line)) {
        // "0::/path" (v2) or "4:memory:/path" (v1)
        const auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        std::optional<std::uint64_t> limit, usage;
        if (controllers.empty()) {
            limit = read_number("/sys/fs/cgroup" + path + "/memory.max");
            usage = read_number("/sys/fs/cgroup" + path + "/memory.current");
        } else if (controllers == "memory") {
            limit = read_number("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes");
            usage = read_number("/sys/fs/cgroup/memory" + path + "/memory.usage_in_bytes");
        }
        // v1 says "no limit" with a number near 2^63
        if (limit && *limit < (std::uint64_t(1) << 60)) return *limit - std::min(*limit, usage.value_or(0));
    }
    return std::nullopt;
}

std::string gib(std::uint64_t bytes) { return fmt::format("{:.1f} GiB", double(bytes) / (1ull << 30)); }

}  // namespace

std::optional<std::uint64_t> available_memory() {
    const auto a = mem_available(), c = cgroup_room();
    if (a && c) return std::min(*a, *c);
    return a ? a : c;
}

void require_memory(std::uint64_t bytes, std::string_view what) {
    const auto room = available_memory();
    if (room && bytes > *room)
        throw InputError(fmt::format("{} needs at least {} of memory; {} are available (a smaller batch, "
                                     "resolution or net would fit)",
                                     what, gib(bytes), gib(*room)));
}

std::uint64_t training_memory_floor(const nets::Graph& g, int batch, Precision p) {
    const std::uint64_t act_bytes = p == Precision::bf16 ? 2 : 4;
    // doubles: a width of 1e6 must not wrap around into a small number
    double bytes = double(g.total_params()) * 8;
    for (const auto& n : g.nodes)
        if (n.op == nets::Op::conv || n.op == nets::Op::linear)
            bytes += double(batch) * double(g.node(n.inputs.at(0)).out.elems()) * double(act_bytes);
    return bytes >= double(std::numeric_limits<std::uint64_t>::max()) ? std::numeric_limits<std::uint64_t>::max()
                                                                       : std::uint64_t(bytes);
}

}  // namespace deeper::runners
