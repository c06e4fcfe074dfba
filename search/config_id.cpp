#include "search/config_id.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "search/fnv_hash.hpp"
#include "search/train_config.hpp"
#include "search/yaml_util.hpp"

namespace deeper::search {

bool changes_results(const std::string& key) {
    static const std::array<const char*, 6> how_it_runs = {"threads", "data_threads", "prefetch", "tune", "out", "seed"};
    return std::find(how_it_runs.begin(), how_it_runs.end(), key) == how_it_runs.end();
}

std::string hex64(std::uint64_t v) { return fmt::format("{:016x}", v); }

std::string canonical_config(const Settings& settings) {
    TrainConfig c;
    for (const auto& [k, v] : settings)
        if (changes_results(k)) set_train_option(c, k, v);
    if (!c.spec.empty()) {
        std::string content;
        try {
            content = read_text_file(c.spec);
        } catch (const std::exception&) {
            content = "(unreadable) " + c.spec;  // planning names the missing file
        }
        c.spec = "net file " + hex64(fnv1a(content));
    }
    std::string text;
    for (const auto& [k, v] : option_texts(c)) text += k + "=" + v + "\n";
    return text;
}

std::string config_id(const Settings& settings) { return hex64(fnv1a(canonical_config(settings))); }

}  // namespace deeper::search
