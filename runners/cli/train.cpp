// `deeper train`: one training run, from flags or a YAML config.
#include <fmt/format.h>

#include <cmath>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

#include "nets/error.hpp"
#include "runners/cli/commands.hpp"
#include "runners/cli/knob_options.hpp"
#include "runners/output_folder.hpp"
#include "runners/status_line.hpp"
#include "runners/train/trainer.hpp"

namespace deeper::runners::cli {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

struct TrainArgs {
    std::string net, config, spec;
    KnobArgs knobs;
    std::vector<std::string> positions;          // NAME=VALUE of a net file's ${NAME}
    std::map<std::string, std::string> options;  // train option -> text
    bool resume = false, force = false;
};

void run_train(const TrainArgs& a) {
    TrainConfig cfg = a.config.empty() ? TrainConfig{} : search::load_train_config(a.config);
    if (!a.net.empty()) cfg.net = a.net;
    if (!a.spec.empty()) cfg.spec = a.spec;
    for (const auto& [k, v] : a.options)
        if (!v.empty()) search::set_train_option(cfg, k, v);
    for (const auto& [k, v] : a.knobs.raw)
        if (!v.empty()) nets::set_knob(cfg.knobs, k, v);
    apply_positions(a.positions, cfg);
    // `--config DIR/config.yaml --resume` continues the run in DIR, wherever it was made.
    if (!a.config.empty() && a.resume && a.options.count("out") && a.options.at("out").empty())
        cfg.out = std::filesystem::path(a.config).parent_path().string();
    if (!cfg.out.empty()) prepare_output_folder(cfg.out, "--out", kTrainFolderMarks);
    if (!cfg.out.empty() && !a.resume && !a.force &&
        std::filesystem::exists(std::filesystem::path(cfg.out) / "checkpoint.safetensors"))
        throw InputError(fmt::format("{} already holds a run (checkpoint.safetensors): --resume continues "
                                     "it, --force starts it over",
                                     cfg.out));

    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    const bool smart = smart_terminal();
    TrainHooks hooks;
    hooks.stop = &g_stop;
    hooks.on_note = [](const std::string& m) { std::cout << m << std::endl; };
    if (smart) {
        hooks.on_step = [](const Progress& p) { std::cout << "\r\x1b[K" << progress_text(p, true) << std::flush; };
    }
    hooks.on_epoch = [smart](const EpochMetrics& m) {
        std::cout << (smart ? "\r\x1b[K" : "")
                  << fmt::format("epoch {:>3}  lr {:.4g}  train loss {:.4f} top1 {:.4f}  val loss "
                                 "{:.4f} top1 {:.4f} top5 {:.4f}  train-eval error {:.4f}  {:.0f} img/s  {}",
                                 m.epoch, m.lr, m.train_loss, m.train_top1, m.val_loss, m.val_top1,
                                 m.val_top5, m.train_eval_error(), m.img_per_s, duration(m.epoch_s))
                  << std::endl;
    };
    const TrainResult r = train(cfg, a.resume, hooks);
    if (r.interrupted) {
        std::cout << (smart ? "\r\x1b[K" : "") << "interrupted: checkpoint saved"
                  << (cfg.out.empty() ? " nowhere (no --out)" : " in " + cfg.out)
                  << "; run again with --resume to continue" << std::endl;
        throw RunError("training interrupted");
    }
    const std::string test = std::isnan(*r.test_top1) ? "no test set"
                                                      : fmt::format("loss {:.4f} top1 {:.4f} top5 {:.4f}", *r.test_loss,
                                                                    *r.test_top1, *r.test_top5);
    std::cout << fmt::format("test: {}  ({} params, {} MACs, {} threads, {}, {})", test, r.params, r.macs, r.threads,
                             r.isa, duration(r.wall_s))
              << std::endl;
}

}  // namespace

void add_train_command(CLI::App& app) {
    auto a = std::make_shared<TrainArgs>();
    auto* cmd = app.add_subcommand("train", "Train a net on real data (default Fashion-MNIST)");
    cmd->add_option("net", a->net, "a zoo net (see `deeper nets`)");
    cmd->add_option("--config", a->config, "a YAML file with these options")->check(CLI::ExistingFile);
    cmd->add_option("--spec", a->spec, "a net defined in a YAML file")->check(CLI::ExistingFile);
    cmd->add_flag("--resume", a->resume, "continue the run in --out from its checkpoint");
    cmd->add_flag("--force", a->force, "start over in an --out that already holds a run");
    struct Opt {
        const char* flag;
        const char* help;
    };
    const Opt opts[] = {
        {"data", "fashion-mnist[:DIR] | mnist:DIR | cifar10:DIR | cifar100:DIR | folder:DIR[,size=N]"
                 "[,cache=auto|true|false][,skip_corrupt=true] | synthetic[:N], then optionally ,classes=LO-HI (or :classes=LO-HI)"},
        {"epochs", "epochs (default 10)"},
        {"batch", "batch size (default 128)"},
        {"lr", "peak learning rate (default 0.1)"},
        {"optimizer", "sgd | rmsprop"},
        {"momentum", "momentum (default 0.9)"},
        {"nesterov", "Nesterov momentum (true/false)"},
        {"weight-decay", "weight decay (default 5e-4)"},
        {"decay-norm-and-bias", "apply weight decay to BN and biases too (default true)"},
        {"schedule", "constant | step | multistep | cosine | exponential (default cosine)"},
        {"step-size", "step schedule: epochs between decays"},
        {"milestones", "multistep schedule: epochs, comma-separated"},
        {"lr-decay", "step/multistep/exponential decay factor (default 0.1)"},
        {"warmup-epochs", "linear warm-up epochs"},
        {"label-smoothing", "label smoothing epsilon"},
        {"augment", "random crops + flips (true/false)"},
        {"crop", "pad (shifted by up to --crop-pad pixels, default) | resized (RandomResizedCrop)"},
        {"crop-pad", "pad crops: padding in the stored image's pixels (default 4)"},
        {"crop-scale", "resized crops: the share of the area, LO,HI (default 0.08,1)"},
        {"crop-ratio", "resized crops: width/height, LO,HI (default 0.75,1.3333)"},
        {"flip", "random horizontal flips (true/false)"},
        {"eval-crop", "evaluation: the centred square of this share of the shorter side (default 1; 0.875 as ImageNet's 256->224)"},
        {"data-threads", "threads building batches ahead of the net (default 0: on the net's threads, between steps)"},
        {"prefetch", "batches built ahead with --data-threads (default 4)"},
        {"val-size", "validation images held out of training (default 5000)"},
        {"train-limit", "use only this many training images"},
        {"train-fraction", "use only this share of the training images, e.g. 0.01 (default 1)"},
        {"train-eval-size", "training images evaluated in eval mode each epoch (default 5000)"},
        {"threads", "threads (default: the cores this process may use)"},
        {"seed", "seed for init, split, order, augmentation and dropout"},
        {"precision", "f32, or bf16 mixed precision (needs AVX512-BF16 or AMX; fp32 master weights)"},
        {"tune", "off (fixed rules), cached (measure each conv's form on this machine, reusing its cache; default) or force"},
        {"out", "run folder: metrics.csv, checkpoint.safetensors, config.yaml, result.csv"},
        {"init", "a checkpoint to start from (tensors matched by name and shape)"},
        {"freeze", "node-name prefixes with no gradient, comma-separated, or 'encoder'"},
        {"init-skip", "node-name prefixes --init leaves freshly initialized, or 'head' (a new classifier)"},
        {"normalize", "input normalization: dataset (its training images' statistics, default), imagenet, none"},
    };
    for (const auto& o : opts) {
        std::string key = o.flag;
        cmd->add_option(std::string("--") + o.flag, a->options[key], o.help)->group("Training");
    }
    add_knob_options(*cmd, a->knobs);
    add_position_option(*cmd, a->positions);
    cmd->footer(
        "On a terminal a progress line per epoch; in a log, one line per epoch.\n"
        "SIGINT/SIGTERM save a checkpoint; --resume continues exactly where it stopped.\n"
        "Example: deeper train resnet20 --in-channels 1 --epochs 15 --out runs/resnet20");
    cmd->callback([a] { run_train(*a); });
}

}  // namespace deeper::runners::cli
