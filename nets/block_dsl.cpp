#include "nets/block_dsl.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <vector>

#include "nets/error.hpp"

namespace deeper::nets {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (true) {
        size_t p = s.find(sep, start);
        out.push_back(s.substr(start, p == std::string_view::npos ? s.size() - start : p - start));
        if (p == std::string_view::npos) break;
        start = p + 1;
    }
    return out;
}

[[noreturn]] void bad(std::string_view s, std::string_view token, const std::string& what) {
    throw InputError(fmt::format("block '{}': token '{}': {}", s, token, what));
}

int parse_int(std::string_view s, std::string_view token, std::string_view digits, int lo, int hi) {
    int x = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), x);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size())
        bad(s, token, "expected a whole number after the letter");
    if (x < lo || x > hi) bad(s, token, fmt::format("{} is not in [{}, {}]", x, lo, hi));
    return x;
}

double parse_real(std::string_view s, std::string_view token, std::string_view digits, double lo,
                  double hi) {
    double x = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), x);
    if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size() ||
        !std::isfinite(x))
        bad(s, token, "expected a number after the letters");
    if (x < lo || x > hi) bad(s, token, fmt::format("{} is not in [{}, {}]", x, lo, hi));
    return x;
}

}  // namespace

BlockArgs parse_block(std::string_view s) {
    auto tokens = split(s, '_');
    BlockArgs b;
    b.type = std::string(tokens[0]);
    if (b.type != "ds" && b.type != "dsa" && b.type != "ir" && b.type != "cn" && b.type != "id")
        bad(s, tokens[0], "block type must be ds, dsa, ir, cn or id");
    bool seen_c = false, seen[128] = {};
    for (size_t i = 1; i < tokens.size(); ++i) {
        std::string_view t = tokens[i];
        if (t.empty()) bad(s, t, "empty token (two '_' in a row?)");
        if (t == "noskip") {
            b.noskip = true;
            continue;
        }
        std::string_view key = t.substr(0, t.rfind("se", 0) == 0 ? 2 : 1);
        std::string_view val = t.substr(key.size());
        unsigned char k0 = key.size() == 2 ? 'S' : (unsigned char)key[0];
        if (k0 < 128 && seen[k0]) bad(s, t, "given twice");
        if (k0 < 128) seen[k0] = true;
        if (key == "r") b.repeats = parse_int(s, t, val, 1, 1000);
        else if (key == "k") {
            b.kernel = parse_int(s, t, val, 1, 31);
            if (b.kernel % 2 == 0) bad(s, t, "kernel must be odd");
        } else if (key == "s") b.stride = parse_int(s, t, val, 1, 4);
        else if (key == "e") b.expansion = parse_real(s, t, val, 0.01, 64);
        else if (key == "c") {
            b.out_channels = parse_int(s, t, val, 1, 1 << 16);
            seen_c = true;
        } else if (key == "se") b.se_ratio = parse_real(s, t, val, 0, 1);
        else bad(s, t, "unknown option (known: r k s e c se noskip)");
    }
    if (!seen_c) bad(s, s, "missing output channels (cN)");
    return b;
}

std::string to_string(const BlockArgs& b) {
    std::string s = fmt::format("{}_r{}_k{}_s{}", b.type, b.repeats, b.kernel, b.stride);
    if (b.expansion) s += fmt::format("_e{}", *b.expansion);
    s += fmt::format("_c{}", b.out_channels);
    if (b.se_ratio) s += fmt::format("_se{}", *b.se_ratio);
    if (b.noskip) s += "_noskip";
    return s;
}

}  // namespace deeper::nets
