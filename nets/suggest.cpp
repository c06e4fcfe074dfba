#include "nets/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>

namespace deeper {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    std::iota(prev.begin(), prev.end(), 0);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            bool same = std::tolower((unsigned char)a[i - 1]) == std::tolower((unsigned char)b[j - 1]);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::vector<std::string> closest(std::string_view word, const std::vector<std::string>& candidates,
                                 std::size_t most) {
    const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
    std::vector<std::pair<std::size_t, std::string>> scored;
    for (const auto& c : candidates) {
        std::size_t d = edit_distance(word, c);
        // A candidate that starts with the word ("vgg" -> "vgg-a") is close too.
        bool prefix = word.size() >= 3 && c.size() > word.size() &&
                      std::equal(word.begin(), word.end(), c.begin());
        if (d <= limit || prefix) scored.emplace_back(prefix ? std::min(d, limit) : d, c);
    }
    std::stable_sort(scored.begin(), scored.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    std::vector<std::string> out;
    for (const auto& [d, c] : scored) {
        if (out.size() == most) break;
        out.push_back(c);
    }
    return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
    auto best = closest(word, candidates);
    if (best.empty()) return "";
    std::string s = " (did you mean ";
    for (std::size_t i = 0; i < best.size(); ++i) {
        if (i) s += i + 1 == best.size() ? " or " : ", ";
        s += "'" + best[i] + "'";
    }
    return s + "?)";
}

}  // namespace deeper
