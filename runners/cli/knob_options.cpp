#include "runners/cli/knob_options.hpp"

#include <algorithm>

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

}  // namespace deeper::runners::cli
