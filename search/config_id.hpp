#pragma once
// The identity of a configuration: the settings that change what a trial computes, with their
// values canonical (0.5 and 0.50 are one value, a setting at its default is the same as none),
// a net file by its content rather than its path, and neither the seed nor how the trial runs
// (threads, data_threads, prefetch, tune, out). Two trials of one configuration differ only by
// their stage, repeat and seed.
#include <string>

#include "search/experiment.hpp"

namespace deeper::search {

// Settings about how a trial runs, not what it computes.
bool changes_results(const std::string& key);

// The configuration as canonical text (a resolved training config). Throws InputError for a
// setting that does not fit.
std::string canonical_config(const Settings& settings);

// 16 hex digits of FNV-1a 64 over canonical_config: at a million configurations the chance of
// any collision is about 3e-8.
std::string config_id(const Settings& settings);

std::string hex64(std::uint64_t v);

}  // namespace deeper::search
