// `deeper dump`: one training step's tensors in a safetensors file (input batch, labels, logits,
// loss, every parameter and its gradient, every node's activation and gradient, by graph node
// name), for checking the engine against another framework: scripts/parity/pytorch_parity.py.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <random>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "runners/cli/commands.hpp"
#include "runners/cli/knob_options.hpp"
#include "runners/cpu_budget.hpp"
#include "runners/engine/engine.hpp"
#include "runners/output_folder.hpp"
#include "runners/table.hpp"
#include "runners/train/param_tensors.hpp"
#include "runners/train/safetensors.hpp"
#include "search/train_config.hpp"

namespace deeper::runners::cli {

namespace {

struct DumpArgs {
    std::string net, out;
    KnobArgs knobs;
    int batch = 8, threads = 0;
    std::uint64_t seed = 0;
    std::string precision = "f32";
};

void run_dump(const DumpArgs& a) {
    check_output_file(a.out, "--out");
    auto opts = expand_knobs(a.knobs);
    if (opts.size() != 1) throw InputError("dump: give each knob one value");
    nets::Graph g = nets::build_net(a.net, opts[0]);
    const int classes = g.output().out.c;
    EngineOptions eo;
    eo.batch = a.batch;
    eo.threads = usable_threads(a.threads, "--threads");
    eo.seed = a.seed;
    eo.precision = parse_precision(a.precision);
    eo.share_memory = false;  // activations must survive backward to be dumped
    Engine e(std::move(g), eo);
    std::mt19937 rng(std::uint32_t(a.seed) + 1);
    std::normal_distribution<float> normal;
    SafeTensors st;
    const auto in = e.graph().input_shape();
    Tensor input{{a.batch, in.c, in.h, in.w}, std::vector<float>(e.input_floats())};
    for (auto& v : input.data) v = normal(rng);
    std::copy(input.data.begin(), input.data.end(), e.input());
    std::vector<std::int32_t> labels(a.batch);
    Tensor label_t{{a.batch}, {}};
    for (auto& l : labels) {
        l = std::int32_t(rng() % classes);
        label_t.data.push_back(float(l));
    }
    // Parameters before the step: the state the other framework starts from.
    add_param_tensors(e, st, "param.");
    auto& store = e.params();
    const LossStats s = e.train_step(labels.data());
    const auto od = e.output_dims(0);
    st.tensors["input"] = input;
    st.tensors["labels"] = label_t;
    st.tensors["logits"] = {{od[0], od[1]}, std::vector<float>(e.output(0), e.output(0) + od[0] * od[1])};
    st.tensors["loss"] = {{1}, {float(s.loss)}};
    for (size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        if (p.is_state) continue;
        st.tensors["grad." + p.name] = {std::vector<std::int64_t>(p.dims.begin(), p.dims.end()),
                                        store.read_plain_grad(int(i), e.dnnl_engine(), e.stream())};
    }
    // Every node's activation and gradient, for bisecting a disagreement node by node.
    auto& net = e.train_net();
    for (const auto& n : e.graph().nodes) {
        std::vector<std::int64_t> shape = {a.batch, n.out.c, n.out.h, n.out.w};
        auto act = net.read_node(n.id, false);
        if (std::int64_t(act.size()) == a.batch * n.out.elems()) st.tensors["act." + n.name] = {shape, act};
        auto grad = net.read_node(n.id, true);
        if (std::int64_t(grad.size()) == a.batch * n.out.elems()) st.tensors["dact." + n.name] = {shape, grad};
    }
    std::string order;  // graph order: safetensors headers list tensors by name
    for (const auto& p : store.infos()) order += (order.empty() ? "" : ",") + p.name;
    // The graph as JSON, [[name, op, [input names]], ...] in graph order: the parity script
    // lines nodes up with PyTorch's calls and replays our ReLU and max-pool decisions.
    nlohmann::json nodes = nlohmann::json::array();
    for (const auto& n : e.graph().nodes) {
        nlohmann::json ins = nlohmann::json::array();
        for (int i : n.inputs) ins.push_back(e.graph().node(i).name);
        nodes.push_back({n.name, nets::op_name(n.op), ins});
    }
    st.metadata = {{"net", a.net},
                   {"knobs", nets::to_string(opts[0])},
                   {"precision", precision_name(eo.precision)},
                   {"param_order", order},
                   {"nodes", nodes.dump()}};
    write_safetensors(a.out, st);
    std::cout << fmt::format("wrote {}: {} tensors, loss {:.6f}\n", a.out, st.tensors.size(), s.loss);
}

}  // namespace

void add_dump_command(CLI::App& app) {
    auto a = std::make_shared<DumpArgs>();
    auto* cmd = app.add_subcommand("dump", "Write one training step's tensors for a parity check");
    cmd->add_option("net", a->net, "zoo net")->required();
    cmd->add_option("--out", a->out, "safetensors file to write")->required();
    cmd->add_option("--batch", a->batch, "batch size")->capture_default_str()->check(CLI::Range(1, search::kMaxBatch));
    cmd->add_option("--threads", a->threads, "threads");
    cmd->add_option("--seed", a->seed, "seed for weights, batch and labels")->capture_default_str();
    cmd->add_option("--precision", a->precision, "f32 or bf16")->capture_default_str();
    add_knob_options(*cmd, a->knobs);
    cmd->footer("Parameters are dumped before the step (param.*), gradients after (grad.*).\n"
                "Example: deeper dump resnet20 --out /tmp/r20.safetensors; "
                "scripts/parity/pytorch_parity.py /tmp/r20.safetensors");
    cmd->callback([a] { run_dump(*a); });
}

}  // namespace deeper::runners::cli
