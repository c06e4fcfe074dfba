#include "search/train_config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>

#include "nets/error.hpp"
#include "nets/suggest.hpp"
#include "search/net_positions.hpp"
#include "search/yaml_util.hpp"

namespace deeper::search {

namespace {

// Every option with its parser; the table is the single list of keys.
template <class C, class F>
void visit_options(C& c, F&& f) {
    f("net", c.net);
    f("spec", c.spec);
    f("data", c.data);
    f("val_size", c.val_size);
    f("train_limit", c.train_limit);
    f("train_fraction", c.train_fraction);
    f("train_eval_size", c.train_eval_size);
    f("augment", c.augment);
    f("crop", c.crop);
    f("crop_pad", c.crop_pad);
    f("crop_scale", c.crop_scale);
    f("crop_ratio", c.crop_ratio);
    f("flip", c.flip);
    f("eval_crop", c.eval_crop);
    f("data_threads", c.data_threads);
    f("prefetch", c.prefetch);
    f("epochs", c.epochs);
    f("batch", c.batch);
    f("optimizer", c.optimizer);
    f("lr", c.lr);
    f("momentum", c.momentum);
    f("nesterov", c.nesterov);
    f("weight_decay", c.weight_decay);
    f("decay_norm_and_bias", c.decay_norm_and_bias);
    f("rmsprop_decay", c.rmsprop_decay);
    f("rmsprop_eps", c.rmsprop_eps);
    f("schedule", c.schedule);
    f("step_size", c.step_size);
    f("milestones", c.milestones);
    f("lr_decay", c.lr_decay);
    f("warmup_epochs", c.warmup_epochs);
    f("label_smoothing", c.label_smoothing);
    f("threads", c.threads);
    f("seed", c.seed);
    f("precision", c.precision);
    f("tune", c.tune);
    f("out", c.out);
    f("init", c.init);
    f("freeze", c.freeze);
    f("init_skip", c.init_skip);
    f("normalize", c.normalize);
}

template <class T>
T parse(const std::string& key, const std::string& v);

template <>
std::string parse<std::string>(const std::string&, const std::string& v) { return v; }

template <>
int parse<int>(const std::string& key, const std::string& v) {
    try {
        std::size_t n = 0;
        int x = std::stoi(v, &n);
        if (n == v.size() && x >= 0) return x;
    } catch (...) {
    }
    throw InputError(fmt::format("option '{}': expected a whole number >= 0, got '{}'", key, v));
}

template <>
std::uint64_t parse<std::uint64_t>(const std::string& key, const std::string& v) {
    try {
        std::size_t n = 0;
        auto x = std::stoull(v, &n);
        if (n == v.size()) return x;
    } catch (...) {
    }
    throw InputError(fmt::format("option '{}': expected a whole number >= 0, got '{}'", key, v));
}

template <>
double parse<double>(const std::string& key, const std::string& v) {
    try {
        std::size_t n = 0;
        double x = std::stod(v, &n);
        if (n == v.size() && std::isfinite(x) && x >= 0) return x;
    } catch (...) {
    }
    throw InputError(fmt::format("option '{}': expected a number >= 0, got '{}'", key, v));
}

template <>
bool parse<bool>(const std::string& key, const std::string& v) {
    if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "0" || v == "no" || v == "off") return false;
    throw InputError(fmt::format("option '{}': expected true or false, got '{}'", key, v));
}


template <>
std::vector<int> parse<std::vector<int>>(const std::string& key, const std::string& v) {
    std::vector<int> out;
    if (v.empty()) return out;
    for (const auto& s : split_commas(v)) out.push_back(parse<int>(key, s));
    return out;
}

// A range "LO,HI" of positive numbers, LO <= HI.
template <>
std::vector<double> parse<std::vector<double>>(const std::string& key, const std::string& v) {
    std::vector<double> out;
    for (const auto& s : split_commas(v)) out.push_back(parse<double>(key, s));
    if (out.size() != 2 || !(out[0] > 0) || !(out[0] <= out[1]))
        throw InputError(fmt::format("option '{}': expected two numbers LO,HI with 0 < LO <= HI, got '{}'", key, v));
    return out;
}

template <>
std::vector<std::string> parse<std::vector<std::string>>(const std::string&, const std::string& v) {
    std::vector<std::string> out;  // an empty item (a trailing comma) would match every name
    for (auto& s : split_commas(v))
        if (!s.empty()) out.push_back(std::move(s));
    return out;
}

template <class T>
std::string print(const T& v) {
    if constexpr (std::is_same_v<T, bool>) return v ? "true" : "false";
    else if constexpr (std::is_same_v<T, std::string>) return v;
    else if constexpr (std::is_same_v<T, std::vector<int>> || std::is_same_v<T, std::vector<std::string>> ||
                       std::is_same_v<T, std::vector<double>>) {
        std::string s;
        for (const auto& x : v) s += (s.empty() ? "" : ",") + fmt::format("{}", x);
        return s;
    } else return fmt::format("{}", v);
}

}  // namespace

void set_train_option(TrainConfig& c, const std::string& key0, const std::string& value) {
    std::string key = key0;
    std::replace(key.begin(), key.end(), '-', '_');
    bool found = false;
    visit_options(c, [&](const char* name, auto& slot) {
        if (key != name) return;
        slot = parse<std::decay_t<decltype(slot)>>(key, value);
        found = true;
    });
    if (found && key == "precision" && value != "f32" && value != "bf16")
        throw InputError(fmt::format("option 'precision': expected f32 or bf16, got '{}'", value));
    if (found && key == "tune" && value != "off" && value != "cached" && value != "force")
        throw InputError(fmt::format("option 'tune': expected off, cached or force, got '{}'", value));
    if (found && (key == "momentum" || key == "label_smoothing" || key == "rmsprop_decay") &&
        std::stod(value) >= 1)  // at 1 or above, the update or the target has no meaning
        throw InputError(fmt::format("option '{}': expected a number in [0, 1), got '{}'", key, value));
    if (found && key == "normalize" && value != "dataset" && value != "imagenet" && value != "none")
        throw InputError(fmt::format("option 'normalize': expected dataset, imagenet or none, got '{}'", value));
    if (found && key == "train_fraction" && !(c.train_fraction > 0 && c.train_fraction <= 1))
        throw InputError(fmt::format("option 'train_fraction': expected a number in (0, 1], got '{}'", value));
    if (found && key == "crop" && value != "pad" && value != "resized")
        throw InputError(fmt::format("option 'crop': expected pad or resized, got '{}'", value));
    if (found && key == "crop_scale" && c.crop_scale[1] > 1)
        throw InputError(fmt::format("option 'crop_scale': shares of the area are at most 1, got '{}'", value));
    if (found && key == "eval_crop" && !(c.eval_crop > 0 && c.eval_crop <= 1))
        throw InputError(fmt::format("option 'eval_crop': expected a share of the shorter side in (0, 1], got '{}'", value));
    if (found && key == "prefetch" && c.prefetch < 1)
        throw InputError(fmt::format("option 'prefetch': expected a whole number >= 1, got '{}'", value));
    if (found && key == "batch" && (c.batch < 1 || c.batch > kMaxBatch))
        throw InputError(fmt::format("option 'batch': expected a whole number in [1, {}], got '{}'", kMaxBatch, value));
    if (found) return;
    if (key.rfind(kPositionPrefix, 0) == 0) {  // net.NAME: a position of the net file
        const std::string name = key.substr(std::string(kPositionPrefix).size());
        if (name.empty() || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
                                std::string::npos)
            throw InputError(fmt::format("option '{}': a net position's name is letters, digits and '_'", key0));
        if (!is_position_value(value))
            throw InputError(fmt::format("option '{}': expected letters, digits, '.', '_' or '-', got '{}'", key0, value));
        c.positions[name] = value;
        return;
    }
    // Net knobs are options too.
    std::vector<std::string> names;
    for (const auto& k : nets::knob_infos())
        if (k.key == key) return nets::set_knob(c.knobs, key, value);
    visit_options(c, [&](const char* name, auto&) { names.emplace_back(name); });
    for (const auto& k : nets::knob_infos()) names.emplace_back(k.key);
    throw InputError(fmt::format("unknown option '{}'{}", key0, did_you_mean(key, names)));
}

const std::vector<std::string>& train_option_names() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        TrainConfig c;
        visit_options(c, [&](const char* name, auto&) { v.emplace_back(name); });
        return v;
    }();
    return names;
}

std::vector<std::pair<std::string, std::string>> option_texts(const TrainConfig& c) {
    std::vector<std::pair<std::string, std::string>> out;
    visit_options(c, [&](const char* name, const auto& slot) {
        std::string v = print(slot);
        if (!v.empty()) out.emplace_back(name, std::move(v));
    });
    nets::visit_knobs(c.knobs, [&](std::string_view name, const auto& slot) {
        if (slot) out.emplace_back(std::string(name), print(*slot));
    });
    for (const auto& [name, value] : c.positions) out.emplace_back(kPositionPrefix + name, value);
    return out;
}

std::string TrainConfig::to_yaml() const {
    YAML::Emitter out;
    out << YAML::BeginMap;
    for (const auto& [k, v] : option_texts(*this)) out << YAML::Key << k << YAML::Value << v;
    out << YAML::EndMap;
    return std::string(out.c_str()) + "\n";
}

namespace {

TrainConfig read_train_config(const YamlDoc& doc) {
    TrainConfig c;
    for (const auto& kv : doc.root()) {
        const std::string key = kv.first.as<std::string>();
        std::string value;
        if (kv.second.IsSequence()) {
            for (const auto& item : kv.second) value += (value.empty() ? "" : ",") + doc.scalar(item, key);
        } else {
            value = doc.scalar(kv.second, key);
        }
        try {
            set_train_option(c, key, value);
        } catch (const InputError& e) {
            doc.fail(kv.first, e.what());
        }
    }
    return c;
}

}  // namespace

TrainConfig load_train_config(const std::string& path) { return read_train_config(YamlDoc::load_file(path)); }

TrainConfig parse_train_config(const std::string& yaml_text, const std::string& name) {
    return read_train_config(YamlDoc::load_string(yaml_text, name));
}

double learning_rate(const TrainConfig& c, double epoch) {
    if (c.warmup_epochs > 0 && epoch < c.warmup_epochs) {
        const double start = c.lr / 10;
        return start + (c.lr - start) * epoch / c.warmup_epochs;
    }
    const double e = epoch - c.warmup_epochs, total = std::max(1, c.epochs - c.warmup_epochs);
    const int whole = int(std::floor(epoch));
    if (c.schedule == "constant") return c.lr;
    if (c.schedule == "step") return c.lr * std::pow(c.lr_decay, whole / std::max(1, c.step_size));
    if (c.schedule == "multistep") {
        int passed = 0;
        for (int m : c.milestones) passed += whole >= m;
        return c.lr * std::pow(c.lr_decay, passed);
    }
    if (c.schedule == "exponential") return c.lr * std::pow(c.lr_decay, whole);
    if (c.schedule == "cosine") return 0.5 * c.lr * (1 + std::cos(M_PI * std::min(1.0, e / total)));
    throw InputError(fmt::format("unknown schedule '{}' (constant, step, multistep, cosine, exponential)",
                                 c.schedule));
}

}  // namespace deeper::search
