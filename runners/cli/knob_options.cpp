#include "runners/cli/knob_options.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "nets/error.hpp"
#include "search/net_positions.hpp"
#include "search/yaml_util.hpp"

namespace deeper::runners::cli {

void add_knob_options(CLI::App& cmd, KnobArgs& args) {
    for (const auto& k : nets::knob_infos()) {
        std::string key(k.key);
        std::string flag = "--" + key;
        std::replace(flag.begin(), flag.end(), '_', '-');
        auto* slot = &args.raw[key];
        if (k.type == nets::KnobType::flag) {
            cmd.add_flag(flag + "{true}", *slot, std::string(k.help) + " (--" + flag.substr(2) +
                                                     "=false turns it off)")
                ->group("Net knobs");
        } else {
            cmd.add_option(flag, *slot, std::string(k.help))->group("Net knobs");
        }
    }
}


std::vector<nets::NetOptions> expand_knobs(const KnobArgs& args) {
    double combinations = 1;
    std::vector<std::string> lists;
    for (const auto& k : nets::knob_infos()) {
        auto it = args.raw.find(std::string(k.key));
        if (it == args.raw.end() || it->second.empty()) continue;
        const std::size_t n = search::split_commas(it->second).size();
        combinations *= double(n);
        if (n > 1) lists.push_back(fmt::format("{} {}", n, k.key));
    }
    if (combinations > double(kMaxKnobCombinations))
        throw InputError(fmt::format("{:.0f} combinations of knob values ({}); at most {} in one call", combinations,
                                     fmt::join(lists, " x "), kMaxKnobCombinations));
    std::vector<nets::NetOptions> out(1);
    for (const auto& k : nets::knob_infos()) {
        auto it = args.raw.find(std::string(k.key));
        if (it == args.raw.end() || it->second.empty()) continue;
        std::vector<nets::NetOptions> next;
        for (const auto& base : out) {
            for (const auto& v : search::split_commas(it->second)) {
                nets::NetOptions o = base;
                nets::set_knob(o, k.key, v);
                next.push_back(std::move(o));
            }
        }
        out = std::move(next);
    }
    return out;
}

void add_position_option(CLI::App& cmd, std::vector<std::string>& positions) {
    cmd.add_option("--position", positions, "NAME=VALUE: fill the net file's ${NAME} (repeatable)")->group("Net knobs");
}

void apply_positions(const std::vector<std::string>& positions, search::TrainConfig& c) {
    for (const auto& p : positions) {
        const auto eq = p.find('=');
        if (eq == std::string::npos || eq == 0)
            throw InputError(fmt::format("--position: expected NAME=VALUE, got '{}'", p));
        search::set_train_option(c, search::kPositionPrefix + p.substr(0, eq), p.substr(eq + 1));
    }
}

}  // namespace deeper::runners::cli
