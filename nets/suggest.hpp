#pragma once
// "Did you mean ...?" for unknown names: the candidates closest by edit distance.
#include <string>
#include <string_view>
#include <vector>

namespace deeper {

std::size_t edit_distance(std::string_view a, std::string_view b);

// Up to `most` candidates within a distance that scales with the word's length, closest first.
std::vector<std::string> closest(std::string_view word, const std::vector<std::string>& candidates,
                                 std::size_t most = 3);

// " (did you mean 'a' or 'b'?)" or "" when nothing is close.
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace deeper
