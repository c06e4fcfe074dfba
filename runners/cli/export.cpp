// `deeper export`: a checkpoint's weights in another framework's names (torchvision's so far).
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "nets/error.hpp"
#include "runners/cli/commands.hpp"
#include "runners/output_folder.hpp"
#include "runners/train/safetensors.hpp"
#include "runners/train/torchvision_names.hpp"

namespace deeper::runners::cli {

namespace {

struct ExportArgs {
    std::string net, weights, to = "torchvision", out;
};

void run_export(const ExportArgs& a) {
    if (a.to != "torchvision") throw InputError(fmt::format("--to: expected torchvision, got '{}'", a.to));
    check_output_file(a.out, "out");
    const SafeTensors checkpoint = read_safetensors(a.weights);
    if (const auto it = checkpoint.metadata.find("net"); it != checkpoint.metadata.end() && it->second != a.net)
        throw InputError(fmt::format("{} holds weights of {}, not {}", a.weights, it->second, a.net));
    const SafeTensors tv = to_torchvision(checkpoint, a.net);
    write_safetensors(a.out, tv);
    std::cout << fmt::format("wrote {}: {} tensors of {} in torchvision's names\n", a.out, tv.tensors.size(), a.net);
}

}  // namespace

void add_export_command(CLI::App& app) {
    auto a = std::make_shared<ExportArgs>();
    auto* cmd = app.add_subcommand("export", "Write a checkpoint's weights under torchvision's names");
    cmd->add_option("net", a->net, "the zoo net")->required();
    cmd->add_option("--weights", a->weights, "a deeper checkpoint")->required()->check(CLI::ExistingFile);
    cmd->add_option("--to", a->to, "the naming: torchvision")->capture_default_str();
    cmd->add_option("out", a->out, "the safetensors file to write")->required();
    cmd->footer("In Python: model.load_state_dict(safetensors.torch.load_file(OUT))");
    cmd->callback([a] { run_export(*a); });
}

}  // namespace deeper::runners::cli
