#pragma once
// What the tuner (tuner.hpp) is asked to do when an Engine compiles a net for training.
#include <functional>
#include <string>

#include "runners/engine/conv_form.hpp"

namespace deeper::runners {

// off: the fixed rules of layers/conv.cpp (A/B checks, tests); cached: measure what the cache
// does not hold; force: measure everything again (and record the new times).
enum class TuneMode { off, cached, force };

// "off", "cached" or "force"; anything else is an InputError.
TuneMode parse_tune_mode(const std::string& name);
std::string tune_mode_name(TuneMode m);

struct TuneOptions {
    TuneMode mode = TuneMode::off;
    std::string cache_folder;  // empty: default_tune_cache_folder()
    std::function<void(const std::string&)> on_note;
    // Tests: milliseconds added to a candidate's measured step (a form made slower on
    // purpose); such measurements are not cached.
    std::function<double(const std::string& node, const ConvForm& form)> injected_ms;
};

}  // namespace deeper::runners
