#pragma once
// Net files as spaces of nets: `${NAME}` anywhere in a net file is a position that a trial's
// setting `net.NAME` fills before the file is read, e.g. blocks: ["${l1}_s2_c64"] with
// net.l1 = ir_k3_e3. A search stage's choices fill positions the same way, so a space over
// architectures (NAS-Bench-Macro's, MnasNet's) is a YAML file and needs no C++.
#include <map>
#include <string>
#include <vector>

namespace deeper::search {

inline constexpr const char* kPositionPrefix = "net.";

// The positions a net file's text has, in order of first appearance.
std::vector<std::string> net_positions(const std::string& text);

// The text with every position filled. Throws InputError naming the file for a position
// without a value and for a value given to a position the file lacks.
std::string fill_net_positions(const std::string& text, const std::map<std::string, std::string>& values,
                               const std::string& file);

// What a position's value may be: letters, digits, '.', '_', '-' (no YAML syntax).
bool is_position_value(const std::string& v);

}  // namespace deeper::search
