#pragma once
// Errors shared by every layer of deeper. The CLI maps them to exit codes:
// InputError (bad usage, bad spec, bad data) -> 2, RunError (a run that failed) -> 1.
#include <stdexcept>
#include <string>

namespace deeper {

struct InputError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct RunError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace deeper
