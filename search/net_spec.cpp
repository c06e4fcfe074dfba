#include "search/net_spec.hpp"

#include <fmt/format.h>

#include "nets/block_dsl.hpp"
#include "nets/blocks.hpp"
#include "nets/error.hpp"
#include "search/net_positions.hpp"
#include "search/yaml_util.hpp"

namespace deeper::search {

namespace {

nets::Op parse_activation(const YamlDoc& doc, const YAML::Node& n) {
    const std::string a = doc.scalar(n, "activation");
    if (const auto op = nets::activation_named(a)) return *op;
    doc.fail(n, fmt::format("key 'activation': expected {}, got '{}'", nets::kActivationNames, a));
}

template <class Def>
void read_common(const YamlDoc& doc, const YAML::Node& r, Def& d) {
    if (r["resolution"]) d.resolution = doc.as<int>(r["resolution"], "resolution", "an integer");
    if (r["classes"]) d.classes = doc.as<int>(r["classes"], "classes", "an integer");
    if (r["in_channels"])
        d.in_channels = doc.as<int>(r["in_channels"], "in_channels", "an integer");
    if (r["width"]) d.width = doc.as<double>(r["width"], "width", "a number");
    if (r["dropout"]) d.dropout = doc.as<double>(r["dropout"], "dropout", "a number");
    for (const char* k : {"resolution", "classes", "in_channels"}) {
        if (r[k] && r[k].as<double>() <= 0) doc.fail(r[k], fmt::format("key '{}': must be positive", k));
    }
}

}  // namespace

NetSpec parse_net_spec(const std::string& text, const std::string& name) {
    const YamlDoc doc = YamlDoc::load_string(text, name);
    const YAML::Node& r = doc.root();
    NetSpec spec;
    spec.source = name;
    spec.has_resolution = bool(r["resolution"]);
    if (!r["type"]) doc.fail(r, "missing key 'type' (plain or mbconv)");
    const std::string type = doc.scalar(r["type"], "type");
    const std::string net_name = r["name"] ? doc.scalar(r["name"], "name") : "custom";
    const std::vector<std::string> common = {"name",    "type",    "resolution", "classes",
                                             "in_channels", "width", "dropout"};
    if (type == "plain") {
        auto known = common;
        known.insert(known.end(), {"layers", "batchnorm", "classifier", "activation"});
        doc.check_keys(r, known, "a plain net");
        nets::VggNetDef d;
        d.name = net_name;
        d.hidden.clear();
        d.dropout = 0;
        read_common(doc, r, d);
        if (!r["layers"] || !r["layers"].IsSequence() || r["layers"].size() == 0)
            doc.fail(r["layers"] ? r["layers"] : r, "key 'layers': expected a list like [32, M, 64, M]");
        for (const auto& t : r["layers"]) {
            std::string token = doc.scalar(t, "layers");
            try {
                nets::check_vgg_token(token);
            } catch (const InputError& e) {
                doc.fail(t, e.what());
            }
            d.layers.push_back(token);
        }
        if (r["batchnorm"]) d.batchnorm = doc.as<bool>(r["batchnorm"], "batchnorm", "true or false");
        if (r["activation"]) d.activation = parse_activation(doc, r["activation"]);
        if (r["classifier"]) {
            if (!r["classifier"].IsSequence())
                doc.fail(r["classifier"], "key 'classifier': expected a list of hidden widths like [256]");
            for (const auto& w : r["classifier"]) {
                int v = doc.as<int>(w, "classifier", "a positive integer");
                if (v <= 0 || v > (1 << 16)) doc.fail(w, "key 'classifier': widths are whole numbers from 1 to 65536");
                d.hidden.push_back(v);
            }
        }
        spec.def = d;
    } else if (type == "mbconv") {
        auto known = common;
        known.insert(known.end(), {"blocks", "stem", "stem_stride", "head", "activation", "depth",
                                   "drop_connect", "divisor"});
        doc.check_keys(r, known, "an mbconv net");
        nets::MbconvNetDef d;
        d.name = net_name;
        read_common(doc, r, d);
        if (!r["blocks"] || !r["blocks"].IsSequence() || r["blocks"].size() == 0)
            doc.fail(r["blocks"] ? r["blocks"] : r,
                     "key 'blocks': expected a list of block strings like [ir_r2_k3_s2_e6_c24]");
        for (const auto& b : r["blocks"]) {
            std::string s = doc.scalar(b, "blocks");
            try {
                nets::parse_block(s);
            } catch (const InputError& e) {
                doc.fail(b, e.what());
            }
            d.stages.push_back(s);
        }
        if (r["stem"]) d.stem_channels = doc.as<int>(r["stem"], "stem", "an integer");
        if (r["stem_stride"]) {
            d.stem_stride = doc.as<int>(r["stem_stride"], "stem_stride", "an integer");
            if (d.stem_stride < 1 || d.stem_stride > 4) doc.fail(r["stem_stride"], "key 'stem_stride': expected 1 to 4");
        }
        if (r["head"]) d.head_channels = doc.as<int>(r["head"], "head", "an integer (0 = none)");
        if (r["activation"]) d.activation = parse_activation(doc, r["activation"]);
        if (r["depth"]) d.depth = doc.as<double>(r["depth"], "depth", "a number");
        if (r["drop_connect"])
            d.drop_connect = doc.as<double>(r["drop_connect"], "drop_connect", "a number");
        if (r["divisor"]) d.divisor = doc.as<int>(r["divisor"], "divisor", "an integer");
        spec.def = d;
    } else {
        doc.fail(r["type"], fmt::format("key 'type': expected plain or mbconv, got '{}'", type));
    }
    return spec;
}

NetSpec load_net_spec(const std::string& path, const std::map<std::string, std::string>& positions) {
    return parse_net_spec(fill_net_positions(read_text_file(path), positions, path), path);
}

nets::Graph build_spec_net(const NetSpec& spec, const nets::NetOptions& o) {
    return std::visit(
        [&](auto d) {
            using D = decltype(d);
            constexpr bool plain = std::is_same_v<D, nets::VggNetDef>;
            std::vector<std::string> takes = {"resolution", "classes", "in_channels", "width", "dropout", "activation"};
            if constexpr (plain) takes.push_back("batchnorm");
            else takes.insert(takes.end(), {"depth", "drop_connect"});
            nets::refuse_knobs_not_taken(o, fmt::format("{} ({}, a {} net)", d.name, spec.source, plain ? "plain" : "mbconv"),
                                         takes);
            if (o.resolution) d.resolution = *o.resolution;
            if (o.classes) d.classes = *o.classes;
            if (o.in_channels) d.in_channels = *o.in_channels;
            if (o.width) d.width = *o.width;
            if (o.dropout) d.dropout = *o.dropout;
            if (o.activation) d.activation = nets::activation_knob(o, d.name);
            if constexpr (plain) {
                if (o.batchnorm) d.batchnorm = *o.batchnorm;
                return nets::build_vgg_net(d);
            } else {
                if (o.depth) d.depth = *o.depth;
                if (o.drop_connect) d.drop_connect = *o.drop_connect;
                return nets::build_mbconv_net(d);
            }
        },
        spec.def);
}

}  // namespace deeper::search
