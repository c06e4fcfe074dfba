#pragma once
// Every net knob as a command-line option (--resolution, --se-ratio, ...), shared by the verbs
// that build nets. A value may be a comma-separated list: the verb then builds every
// combination (that is how `deeper count mobilenet-v1 --width 1,0.75,0.5` prints Table 6).
#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

#include "nets/knobs.hpp"
#include "search/train_config.hpp"

namespace deeper::runners::cli {

struct KnobArgs {
    std::map<std::string, std::string> raw;  // knob key -> text as given
};

void add_knob_options(CLI::App& cmd, KnobArgs& args);

// The most combinations one call builds: each is a net (10,000 count rows print in seconds; two
// lists of 3,000 values would be 9 million nets).
inline constexpr std::size_t kMaxKnobCombinations = 10000;

// All combinations of the listed values, in the order given (first knob varies slowest).
// Counted first: more than kMaxKnobCombinations is an InputError naming the lists.
std::vector<nets::NetOptions> expand_knobs(const KnobArgs& args);

// --position NAME=VALUE (repeatable): a net file's ${NAME}, as `net.NAME: VALUE` in YAML.
void add_position_option(CLI::App& cmd, std::vector<std::string>& positions);
// Sets each on `c` (InputError for a malformed one).
void apply_positions(const std::vector<std::string>& positions, search::TrainConfig& c);

}  // namespace deeper::runners::cli
