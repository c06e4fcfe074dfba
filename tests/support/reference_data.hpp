#pragma once
// Published reference data the suite checks against (NAS-Bench-Macro's table), found beside
// the project in ../shared/reference or where $DEEPER_REFERENCE_DIR says. Missing data fails
// the test that needs it, unless $DEEPER_NO_REFERENCE=1 says the machine has none.
#include <cstdlib>
#include <filesystem>
#include <string>

namespace deeper::test {

inline std::filesystem::path reference_dir() {
    if (const char* d = std::getenv("DEEPER_REFERENCE_DIR"); d && *d) return d;
    return DEEPER_REFERENCE_DIR;
}

inline std::filesystem::path nas_bench_macro_json() {
    return reference_dir() / "nas-bench-macro" / "nas-bench-macro_cifar10.json";
}

inline bool reference_waived() {
    const char* v = std::getenv("DEEPER_NO_REFERENCE");
    return v && std::string(v) == "1";
}

}  // namespace deeper::test
