#include "search/yaml_util.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "nets/error.hpp"
#include "nets/suggest.hpp"
#include "search/input_file.hpp"

namespace deeper::search {

namespace {

// yaml-cpp keeps both of two equal keys and looks up the first, so the second (lr given twice,
// or crop-pad beside crop_pad, which name one setting) would be silently ignored.
void refuse_repeated_keys(const YamlDoc& d, const YAML::Node& n, std::size_t& budget) {
    if (budget == 0 || --budget == 0) return;
    if (n.IsSequence())
        for (const auto& item : n) refuse_repeated_keys(d, item, budget);
    if (!n.IsMap()) return;
    std::map<std::string, YAML::Mark> seen;
    for (const auto& kv : n) {
        if (kv.first.IsScalar()) {
            std::string key = kv.first.Scalar();
            std::replace(key.begin(), key.end(), '-', '_');
            const auto [at, fresh] = seen.emplace(key, kv.first.Mark());
            if (!fresh)
                d.fail(kv.first, fmt::format("key '{}' is given twice (first at line {})", kv.first.Scalar(),
                                             at->second.line + 1));
        }
        refuse_repeated_keys(d, kv.second, budget);
    }
}

}  // namespace

YamlDoc YamlDoc::load_string(const std::string& text, const std::string& name) {
    YamlDoc d;
    d.path_ = name;
    try {
        d.root_ = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        throw InputError(fmt::format("{}:{}:{}: malformed YAML: {}", name, e.mark.line + 1,
                                     e.mark.column + 1, e.msg));
    }
    if (!d.root_.IsMap()) throw InputError(fmt::format("{}:1:1: expected a mapping of keys", name));
    std::size_t budget = 1000000;  // nodes visited: aliases can make a small file a huge tree
    refuse_repeated_keys(d, d.root_, budget);
    return d;
}

std::string read_text_file(const std::string& path) { return read_input_file(path, kMaxTextFileBytes, "text"); }

std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t p = text.find(',', start);
        out.push_back(text.substr(start, p == std::string::npos ? std::string::npos : p - start));
        if (p == std::string::npos) return out;
        start = p + 1;
    }
}

YamlDoc YamlDoc::load_file(const std::string& path) { return load_string(read_text_file(path), path); }

std::string YamlDoc::where(const YAML::Node& at) const {
    const YAML::Mark m = at.Mark();
    if (m.is_null()) return path_;
    return fmt::format("{}:{}:{}", path_, m.line + 1, m.column + 1);
}

void YamlDoc::fail(const YAML::Node& at, const std::string& what) const {
    throw InputError(fmt::format("{}: {}", where(at), what));
}

void YamlDoc::require_map(const YAML::Node& n, const std::string& what) const {
    if (!n.IsMap()) fail(n, fmt::format("{}: expected a mapping of keys", what));
}

void YamlDoc::check_keys(const YAML::Node& map, const std::vector<std::string>& known,
                         const std::string& what) const {
    for (const auto& kv : map) {
        const std::string key = kv.first.as<std::string>();
        if (std::find(known.begin(), known.end(), key) != known.end()) continue;
        fail(kv.first, fmt::format("unknown key '{}' in {}{}", key, what, did_you_mean(key, known)));
    }
}

std::string YamlDoc::scalar(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, fmt::format("key '{}': expected a single value", key));
    return n.Scalar();
}

}  // namespace deeper::search
