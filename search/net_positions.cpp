#include "search/net_positions.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <regex>

#include "nets/error.hpp"

namespace deeper::search {

namespace {

const std::regex& position_pattern() {
    static const std::regex re(R"(\$\{([A-Za-z_][A-Za-z0-9_]*)\})");
    return re;
}

}  // namespace

std::vector<std::string> net_positions(const std::string& text) {
    std::vector<std::string> out;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), position_pattern()); it != std::sregex_iterator(); ++it)
        if (std::find(out.begin(), out.end(), (*it)[1].str()) == out.end()) out.push_back((*it)[1].str());
    return out;
}

std::string fill_net_positions(const std::string& text, const std::map<std::string, std::string>& values,
                               const std::string& file) {
    const std::vector<std::string> names = net_positions(text);
    for (const auto& [name, value] : values)
        if (std::find(names.begin(), names.end(), name) == names.end())
            throw InputError(fmt::format("{}{}: the net file {} has no position ${{{}}}{}", kPositionPrefix, name, file,
                                         name,
                                         names.empty() ? "" : fmt::format(" (it has {})", fmt::join(names, ", "))));
    std::string out;
    auto last = text.cbegin();
    for (auto it = std::sregex_iterator(text.begin(), text.end(), position_pattern()); it != std::sregex_iterator(); ++it) {
        const std::string name = (*it)[1].str();
        const auto v = values.find(name);
        if (v == values.end())
            throw InputError(fmt::format("{}: position ${{{}}} has no value; set {}{} (a setting or a search choice)", file,
                                         name, kPositionPrefix, name));
        out.append(last, (*it)[0].first);
        out += v->second;
        last = (*it)[0].second;
    }
    out.append(last, text.cend());
    return out;
}

bool is_position_value(const std::string& v) {
    return !v.empty() && v.size() <= 200 &&
           v.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == std::string::npos;
}

}  // namespace deeper::search
