#include "nets/knobs.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "nets/error.hpp"
#include "nets/suggest.hpp"

namespace deeper::nets {

const std::vector<KnobInfo>& knob_infos() {
    static const std::vector<KnobInfo> infos = {
        {"resolution", KnobType::integer, "input side in pixels"},
        {"classes", KnobType::integer, "number of classes"},
        {"in_channels", KnobType::integer, "input channels (1 for Fashion-MNIST)"},
        {"width", KnobType::real, "channel (width) multiplier"},
        {"depth", KnobType::real, "depth multiplier"},
        {"batchnorm", KnobType::flag, "batch normalization after convolutions"},
        {"lrn", KnobType::flag, "local response normalization, as in the paper"},
        {"aux", KnobType::flag, "GoogLeNet's auxiliary classifiers (training only)"},
        {"head", KnobType::text, "classifier head: gap or fc"},
        {"reductions", KnobType::flag, "GoogLeNet: 1x1 reductions before the 3x3 and 5x5 convs"},
        {"activation", KnobType::text, "activation: relu, relu6, swish, sigmoid or tanh"},
        {"pool_kernel", KnobType::integer, "max-pool window at stride 2 (AlexNet: 3 overlaps, 2 does not)"},
        {"shortcut", KnobType::text, "ResNet shortcut: A (zero-padded identity) or B (projection)"},
        {"se_ratio", KnobType::real, "squeeze-and-excitation width ratio (0 = off)"},
        {"fc_width", KnobType::integer, "hidden width of the fully connected classifier"},
        {"dropout", KnobType::real, "dropout rate before the classifier"},
        {"drop_connect", KnobType::real, "drop-connect (stochastic depth) rate of the last block"},
        {"zero_init_residual", KnobType::flag,
         "start each residual branch's last batch norm at scale 0 (the block begins as the identity)"},
        {"alpha", KnobType::real, "EfficientNet depth coefficient"},
        {"beta", KnobType::real, "EfficientNet width coefficient"},
        {"gamma", KnobType::real, "EfficientNet resolution coefficient"},
        {"phi", KnobType::real, "EfficientNet compound coefficient"},
    };
    return infos;
}

namespace {

std::string normalized_key(std::string_view key) {
    std::string k(key);
    std::replace(k.begin(), k.end(), '-', '_');
    return k;
}

template <class T>
T parse_value(std::string_view key, std::string_view v);

template <>
int parse_value<int>(std::string_view key, std::string_view v) {
    int x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size() || x <= 0)
        throw InputError(fmt::format("knob '{}': expected a positive integer, got '{}'", key, v));
    return x;
}

template <>
double parse_value<double>(std::string_view key, std::string_view v) {
    std::string s(v);
    char* end = nullptr;
    double x = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(x) || x < 0)
        throw InputError(fmt::format("knob '{}': expected a non-negative number, got '{}'", key, v));
    return x;
}

template <>
bool parse_value<bool>(std::string_view key, std::string_view v) {
    if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "0" || v == "no" || v == "off") return false;
    throw InputError(fmt::format("knob '{}': expected true or false, got '{}'", key, v));
}

template <>
std::string parse_value<std::string>(std::string_view key, std::string_view v) {
    if (v.empty()) throw InputError(fmt::format("knob '{}': expected a value", key));
    return std::string(v);
}

template <class T>
std::string print_value(const T& v) {
    if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
    else return fmt::format("{}", v);
}

// Beyond these no net is trainable, and channel counts would overflow before any check.
struct KnobLimit {
    std::string_view key;
    double max;
    bool open;  // the bound itself is excluded (rates)
};
constexpr KnobLimit kLimits[] = {
    {"resolution", 16384, false}, {"classes", 1'000'000, false}, {"in_channels", 4096, false},
    {"width", 100, false},        {"depth", 100, false},          {"fc_width", 1 << 20, false},
    {"se_ratio", 1, false},       {"dropout", 1, true},           {"drop_connect", 1, true},
    {"phi", 20, false},           {"pool_kernel", 64, false},
};

template <class T>
void check_limit(std::string_view key, const T& v) {
    if constexpr (std::is_arithmetic_v<T>)
        for (const auto& l : kLimits)
            if (l.key == key && (double(v) > l.max || (l.open && double(v) >= l.max)))
                throw InputError(fmt::format("knob '{}': {} is out of range ({} {})", key, v,
                                             l.open ? "less than" : "at most", l.max));
}

}  // namespace

void set_knob(NetOptions& o, std::string_view key, std::string_view value) {
    const std::string k = normalized_key(key);
    bool found = false;
    visit_knobs(o, [&](std::string_view name, auto& slot) {
        if (name != k) return;
        using T = typename std::decay_t<decltype(slot)>::value_type;
        slot = parse_value<T>(name, value);
        check_limit(name, *slot);
        found = true;
    });
    if (!found) {
        std::vector<std::string> names;
        for (const auto& i : knob_infos()) names.emplace_back(i.key);
        throw InputError(fmt::format("unknown knob '{}'{}", key, did_you_mean(k, names)));
    }
}

std::vector<std::string> set_knob_names(const NetOptions& o) {
    std::vector<std::string> out;
    visit_knobs(o, [&](std::string_view name, const auto& slot) {
        if (slot) out.emplace_back(name);
    });
    return out;
}

void refuse_knobs_not_taken(const NetOptions& o, std::string_view net, const std::vector<std::string>& takes) {
    for (const auto& k : set_knob_names(o)) {
        if (std::find(takes.begin(), takes.end(), k) != takes.end()) continue;
        std::string list;
        for (const auto& t : takes) list += (list.empty() ? "" : ", ") + t;
        throw InputError(fmt::format("{} does not take the knob '{}'; it takes: {}", net, k, list));
    }
}

std::string to_string(const NetOptions& o) {
    std::string s;
    visit_knobs(o, [&](std::string_view name, const auto& slot) {
        if (!slot) return;
        if (!s.empty()) s += ',';
        s += fmt::format("{}={}", name, print_value(*slot));
    });
    return s;
}

}  // namespace deeper::nets
