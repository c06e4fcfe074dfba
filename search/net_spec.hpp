#pragma once
// User-defined nets in YAML, counted and trained like zoo nets. Two styles:
//   type: plain   layers: [32, M, 64, conv1-64, M], classifier: [256]    (VGG-style lists)
//   type: mbconv  stem: 32, blocks: [ds_r1_k3_s1_c16, ir_r2_k3_s2_e6_c24_se0.25], head: 1280
// Keys resolution, classes, in_channels, width, depth, batchnorm, dropout, drop_connect and
// activation set defaults that knobs override; a knob the net's style does not take is refused.
#include <map>
#include <string>
#include <variant>

#include "nets/graph.hpp"
#include "nets/knobs.hpp"
#include "nets/mbconv.hpp"
#include "nets/vgg_style.hpp"

namespace deeper::search {

struct NetSpec {
    std::string source;  // the file it came from
    bool has_resolution = false;  // false: the def's 224 is a default a trainer may replace
    std::variant<nets::VggNetDef, nets::MbconvNetDef> def;
};

// Throws InputError "file:line:col: ..." for anything wrong in the file.
// `positions` fill the file's ${NAME}s (net_positions.hpp) before it is read.
NetSpec load_net_spec(const std::string& path, const std::map<std::string, std::string>& positions = {});
NetSpec parse_net_spec(const std::string& yaml_text, const std::string& name);

nets::Graph build_spec_net(const NetSpec& spec, const nets::NetOptions& knobs);

}  // namespace deeper::search
