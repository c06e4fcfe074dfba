#pragma once
// FNV-1a, 64 bits: a hash that is the same on every build and machine, for ids and digests
// that are written to files (trial ids, conv plans, cache keys).
#include <cstdint>
#include <string_view>

namespace deeper::search {

inline std::uint64_t fnv1a(std::string_view text) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

}  // namespace deeper::search
