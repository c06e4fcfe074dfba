// `deeper export`: a net and its weights in another framework's form: ONNX (any net: zoo, net
// file, a search's trial) or a checkpoint's weights under torchvision's state_dict names.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "runners/cli/commands.hpp"
#include "runners/cli/knob_options.hpp"
#include "runners/atomic_file.hpp"
#include "runners/cpu_budget.hpp"
#include "runners/data/dataset.hpp"
#include "runners/engine/engine.hpp"
#include "runners/export/onnx_model.hpp"
#include "runners/output_folder.hpp"
#include "runners/train/param_tensors.hpp"
#include "runners/train/safetensors.hpp"
#include "runners/train/torchvision_names.hpp"
#include "runners/train/trainer.hpp"
#include "search/net_spec.hpp"
#include "search/train_config.hpp"

namespace deeper::runners::cli {

namespace fs = std::filesystem;

namespace {

struct ExportArgs {
    std::vector<std::string> positional;  // [NET] OUT
    std::string spec, weights, format, data;
    std::vector<std::string> positions;  // NAME=VALUE: a net file's ${NAME}
    int batch = 0;
    bool fold_bn = false;
    std::uint64_t seed = 0;
    KnobArgs knobs;
};

std::string format_of(const ExportArgs& a, const std::string& out) {
    if (!a.format.empty()) {
        if (a.format != "onnx" && a.format != "torchvision")
            throw InputError(fmt::format("--format: expected onnx or torchvision, got '{}'", a.format));
        return a.format;
    }
    const std::string ext = fs::path(out).extension().string();
    if (ext == ".onnx") return "onnx";
    if (ext == ".safetensors") return "torchvision";
    throw InputError(fmt::format("export: give --format onnx|torchvision (the name {} does not say which)", out));
}

// The net to export: the checkpoint's recorded run (net, knobs, data, positions) unless the
// command line names another; with no recorded run and no --data, the zoo net's own defaults
// (ImageNet's classes and size for ImageNet nets), as `deeper count` builds it.
nets::Graph export_graph(const ExportArgs& a, const std::string& net, const std::map<std::string, std::string>& meta,
                         search::TrainConfig& c) {
    const auto recorded = meta.find("config");
    if (recorded != meta.end()) c = search::parse_train_config(recorded->second, a.weights + " (its recorded config)");
    if (!net.empty()) c.net = net, c.spec.clear();
    if (!a.spec.empty()) c.spec = a.spec, c.net.clear();
    if (c.net.empty() && c.spec.empty())
        throw InputError("export: name a zoo net (see `deeper nets`) or give --spec FILE"
                         " (or --weights of a checkpoint that records its net)");
    const auto knobs = expand_knobs(a.knobs);
    if (knobs.size() != 1) throw InputError("export: give each knob one value");
    for (const auto& [k, v] : a.knobs.raw)
        if (!v.empty()) nets::set_knob(c.knobs, k, v);
    apply_positions(a.positions, c);
    if (!a.data.empty()) c.data = a.data;
    if (recorded != meta.end() || !a.data.empty()) return build_graph(c, data::load(c.data).train);
    if (!c.spec.empty()) {
        const search::NetSpec spec = search::load_net_spec(c.spec, c.positions);
        if (!spec.has_resolution && !c.knobs.resolution)
            throw InputError(fmt::format("export: {} sets no resolution: give --resolution or --data", c.spec));
        return search::build_spec_net(spec, c.knobs);
    }
    if (!c.positions.empty()) throw InputError("--position fills a net file's ${NAME}: give --spec FILE");
    return nets::build_net(c.net, c.knobs);
}

// Weights from initialization: the engine's own for the seed, as training would start.
SafeTensors initial_weights(const nets::Graph& g, std::uint64_t seed) {
    EngineOptions eo;
    eo.batch = 1;
    eo.threads = usable_threads(0, "threads");
    eo.seed = seed;
    eo.training = true;  // inference may keep weights in forms with no way back (Winograd's)
    Engine e(g, eo);
    SafeTensors st;
    add_param_tensors(e, st);
    return st;
}

void export_onnx(const ExportArgs& a, const std::string& net, const std::string& out) {
    const std::string weights = checkpoint_file(a.weights, "--weights");
    const auto meta = weights.empty() ? std::map<std::string, std::string>{} : read_safetensors_metadata(weights);
    search::TrainConfig c;
    const nets::Graph g = export_graph(a, net, meta, c);
    const SafeTensors w = weights.empty() ? initial_weights(g, a.seed) : read_safetensors(weights);
    OnnxOptions o;
    o.net = c.net;
    o.weights_source = weights.empty() ? fmt::format("initialization (seed {})", a.seed) : weights;
    o.batch = a.batch;
    o.fold_batchnorm = a.fold_bn;
    if (!c.spec.empty()) o.metadata.emplace_back("deeper.spec", c.spec);
    for (const auto& [k, v] : c.positions) o.metadata.emplace_back("deeper.net." + k, v);
    const OnnxModel m = onnx_model(g, w, o);
    write_atomically(out, m.bytes);
    std::cout << fmt::format("wrote {}: {} (ONNX opset {}), {} nodes, {} initializers, {} params, {} MACs\n", out,
                             g.name, kOnnxOpset, m.nodes, m.initializers, m.params, m.macs);
}

void export_torchvision(const ExportArgs& a, const std::string& net, const std::string& out) {
    if (a.weights.empty()) throw InputError("export --format torchvision: give --weights (a deeper checkpoint)");
    const std::string weights = checkpoint_file(a.weights, "--weights");
    const SafeTensors checkpoint = read_safetensors(weights);
    std::string name = net;
    if (const auto it = checkpoint.metadata.find("net"); it != checkpoint.metadata.end()) {
        if (!name.empty() && it->second != name)
            throw InputError(fmt::format("{} holds weights of {}, not {}", weights, it->second, name));
        name = it->second;
    }
    if (name.empty()) throw InputError("export --format torchvision: name the zoo net");
    const SafeTensors tv = to_torchvision(checkpoint, name);
    write_safetensors(out, tv);
    std::cout << fmt::format("wrote {}: {} tensors of {} in torchvision's names\n", out, tv.tensors.size(), name);
}

void run_export(const ExportArgs& a) {
    if (a.positional.empty() || a.positional.size() > 2)
        throw InputError("export: expected [NET] OUT (e.g. deeper export resnet20 --weights W resnet20.onnx)");
    const std::string out = a.positional.back();
    const std::string net = a.positional.size() == 2 ? a.positional.front() : "";
    if (!net.empty() && !a.spec.empty()) throw InputError("export: give a zoo net or --spec FILE, not both");
    check_output_file(out, "out");
    if (format_of(a, out) == "onnx") export_onnx(a, net, out);
    else export_torchvision(a, net, out);
}

}  // namespace

void add_export_command(CLI::App& app) {
    auto a = std::make_shared<ExportArgs>();
    auto* cmd = app.add_subcommand("export", "Write a net as ONNX, or a checkpoint's weights under torchvision's names");
    cmd->add_option("net_out", a->positional, "[NET] OUT: the zoo net (default: the checkpoint's) and the file to write")
        ->required()
        ->expected(1, 2);
    cmd->add_option("--spec", a->spec, "a net file (YAML) instead of a zoo net")->check(CLI::ExistingFile);
    cmd->add_option("--weights", a->weights, "a deeper checkpoint, a run or trial folder, or torchvision weights")
        ->check(CLI::ExistingPath);
    cmd->add_option("--format,--to", a->format, "onnx or torchvision (default: from OUT's extension)");
    cmd->add_option("--data", a->data, "size the net for this data (default: the checkpoint's, else the net's own)");
    cmd->add_option("--batch", a->batch, "a fixed batch in the ONNX input (default 0: dynamic)")
        ->check(CLI::Range(0, search::kMaxBatch));
    cmd->add_flag("--fold-bn", a->fold_bn, "fold each BN that follows a conv into the conv's weights (ONNX)");
    cmd->add_option("--seed", a->seed, "without --weights: the initialization's seed")->capture_default_str();
    add_knob_options(*cmd, a->knobs);
    add_position_option(*cmd, a->positions);
    cmd->footer(
        "ONNX: opset 10, input \"input\" [batch,C,H,W], output \"logits\"; metadata deeper.macs and deeper.params.\n"
        "torchvision, in Python: model.load_state_dict(safetensors.torch.load_file(OUT))");
    cmd->callback([a] { run_export(*a); });
}

}  // namespace deeper::runners::cli
