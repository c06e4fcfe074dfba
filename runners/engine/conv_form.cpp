#include "runners/engine/conv_form.hpp"

#include <fmt/format.h>

#include <sstream>
#include <string_view>
#include <vector>

#include "nets/error.hpp"
#include "search/fnv_hash.hpp"

namespace deeper::runners {

namespace {

using dnnl::algorithm;
using dnnl::memory;

const char* algorithm_name(algorithm a) { return a == algorithm::convolution_winograd ? "winograd" : "direct"; }

std::optional<algorithm> parse_algorithm(const std::string& s) {
    if (s == "direct") return algorithm::convolution_direct;
    if (s == "winograd") return algorithm::convolution_winograd;
    return std::nullopt;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    for (std::size_t i = 0; i <= s.size(); ++i)
        if (i == s.size() || s[i] == sep) {
            parts.push_back(s.substr(start, i - start));
            start = i + 1;
        }
    return parts;
}

constexpr std::string_view own_bn_suffix = "+own-bn";

std::string conv_part_name(const ConvForm& f) {
    const std::string type = f.type == memory::data_type::bf16 ? "bf16" : "f32";
    if (f.gemm) return type + ":gemm";
    if (f.winograd_f2) return type + ":winograd-f2";
    if (f.fwd == f.bwd_data && f.fwd == f.bwd_weights) return type + ":" + algorithm_name(f.fwd);
    return fmt::format("{}:{}/{}/{}", type, algorithm_name(f.fwd), algorithm_name(f.bwd_data),
                       algorithm_name(f.bwd_weights));
}

std::optional<ConvForm> parse_conv_part(const std::string& text) {
    const auto colon = text.find(':');
    if (colon == std::string::npos) return std::nullopt;
    ConvForm f;
    const std::string type = text.substr(0, colon), how = text.substr(colon + 1);
    if (type == "bf16") f.type = memory::data_type::bf16;
    else if (type != "f32") return std::nullopt;
    if (how == "gemm") {
        f.gemm = true;
        return f;
    }
    if (how == "winograd-f2") {
        f.winograd_f2 = true;
        return f;
    }
    const auto passes = split(how, '/');
    if (passes.size() != 1 && passes.size() != 3) return std::nullopt;
    std::vector<algorithm> algs;
    for (const auto& p : passes) {
        const auto a = parse_algorithm(p);
        if (!a) return std::nullopt;
        algs.push_back(*a);
    }
    f.fwd = algs[0];
    f.bwd_data = algs[passes.size() == 3 ? 1 : 0];
    f.bwd_weights = algs[passes.size() == 3 ? 2 : 0];
    return f;
}

}  // namespace

std::string conv_form_name(const ConvForm& f) {
    return conv_part_name(f) + (f.own_bn ? std::string(own_bn_suffix) : "");
}

std::optional<ConvForm> parse_conv_form(const std::string& whole) {
    const bool own_bn = whole.ends_with(own_bn_suffix);
    const std::string text = own_bn ? whole.substr(0, whole.size() - own_bn_suffix.size()) : whole;
    std::optional<ConvForm> f = parse_conv_part(text);
    if (f) f->own_bn = own_bn;
    return f;
}

std::string conv_plan_text(const ConvPlan& p) {
    std::string s;
    for (const auto& [node, form] : p) s += node + " " + conv_form_name(form) + "\n";
    return s;
}

ConvPlan parse_conv_plan(const std::string& text, const std::string& where) {
    ConvPlan p;
    std::istringstream in(text);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (line.empty()) continue;
        const auto space = line.rfind(' ');
        const auto form = space == std::string::npos ? std::nullopt : parse_conv_form(line.substr(space + 1));
        if (!form || space == 0)
            throw InputError(fmt::format("{}: line {} of the conv plan is '{}', not 'NODE FORM'", where, n, line));
        if (!p.emplace(line.substr(0, space), *form).second)
            throw InputError(fmt::format("{}: line {} of the conv plan names {} again", where, n, line.substr(0, space)));
    }
    return p;
}

std::string conv_plan_hash(const ConvPlan& p) {
    return fmt::format("{:016x}", search::fnv1a(conv_plan_text(p)));
}

}  // namespace deeper::runners
