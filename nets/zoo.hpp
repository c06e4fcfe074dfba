#pragma once
// The zoo: every architecture by name, buildable at any resolution, width, depth and class
// count. One family per file under nets/zoo/, each table-driven.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "nets/graph.hpp"
#include "nets/knobs.hpp"

namespace deeper::nets {

struct ZooEntry {
    std::string name;
    std::vector<std::string> aliases;
    std::string summary;            // one line for `deeper nets`
    std::vector<std::string> knobs;  // the knobs this net takes
    std::function<Graph(const NetOptions&)> build;
};

const std::vector<ZooEntry>& zoo();

// Resolves aliases and the open families (resnet<6n+2>, plain<6n+2>). Throws InputError for an
// unknown name (with the closest names) or a knob the net does not take.
const ZooEntry& find_net(std::string_view name);

// Builds a zoo net. When the resolution is too small, the error names the stage that breaks
// and the smallest resolution at which the net builds.
Graph build_net(std::string_view name, const NetOptions& o = {});

}  // namespace deeper::nets
