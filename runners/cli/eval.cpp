// `deeper eval`: trained weights on one split of a dataset (loss, top-1, top-5), optionally
// every prediction as CSV. A deeper checkpoint brings its run's net, knobs, data, seed and
// validation split as defaults; flags override them.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "nets/error.hpp"
#include "runners/cli/commands.hpp"
#include "runners/cli/knob_options.hpp"
#include "runners/output_folder.hpp"
#include "runners/train/evaluate.hpp"
#include "runners/train/safetensors.hpp"
#include "search/train_config.hpp"

namespace deeper::runners::cli {

namespace {

struct EvalArgs {
    std::string net, weights, data, split = "val", normalize = "checkpoint", predictions, precision = "f32";
    std::string inputs_npy, logits_npy;
    int batch = 128, threads = 0;
    std::size_t limit = 0;
    std::string seed, val_size, eval_crop, data_threads;
    KnobArgs knobs;
};

void run_eval(const EvalArgs& a) {
    if (!a.predictions.empty()) check_output_file(a.predictions, "--predictions");
    if (!a.inputs_npy.empty()) check_output_file(a.inputs_npy, "--inputs");
    if (!a.logits_npy.empty()) check_output_file(a.logits_npy, "--logits");
    const std::string weights = checkpoint_file(a.weights, "--weights");
    const auto meta = read_safetensors_metadata(weights);
    EvalConfig c;
    if (const auto it = meta.find("config"); it != meta.end())
        c.run = search::parse_train_config(it->second, weights + " (its recorded config)");
    if (!a.net.empty()) c.run.net = a.net, c.run.spec.clear();
    if (c.run.net.empty() && c.run.spec.empty())
        throw InputError(fmt::format("{} records no net: give one (deeper eval NET --weights ...)", weights));
    if (!a.data.empty()) c.run.data = a.data;
    if (!a.seed.empty()) search::set_train_option(c.run, "seed", a.seed);
    if (!a.val_size.empty()) search::set_train_option(c.run, "val_size", a.val_size);
    if (!a.eval_crop.empty()) search::set_train_option(c.run, "eval_crop", a.eval_crop);
    if (!a.data_threads.empty()) search::set_train_option(c.run, "data_threads", a.data_threads);
    for (const auto& [k, v] : a.knobs.raw)
        if (!v.empty()) nets::set_knob(c.run.knobs, k, v);
    c.run.batch = a.batch;
    c.run.threads = a.threads;
    c.run.precision = a.precision;
    c.weights = weights;
    c.split = a.split;
    c.normalize = a.normalize;
    c.predictions = a.predictions;
    c.limit = a.limit;
    c.inputs_npy = a.inputs_npy;
    c.logits_npy = a.logits_npy;
    const EvalResult r = evaluate_weights(c);
    std::cout << fmt::format("{} on {} ({}): {} images  loss {:.4f}  top1 {:.4f}  top5 {:.4f}\n",
                             c.run.net.empty() ? c.run.spec : c.run.net, c.run.data, c.split, r.images, r.loss, r.top1,
                             r.top5);
    for (const auto* f : {&c.predictions, &c.inputs_npy, &c.logits_npy})
        if (!f->empty()) std::cout << "wrote " << *f << '\n';
}

}  // namespace

void add_eval_command(CLI::App& app) {
    auto a = std::make_shared<EvalArgs>();
    auto* cmd = app.add_subcommand("eval", "Evaluate trained weights on a split of a dataset");
    cmd->add_option("net", a->net, "a zoo net (default: the checkpoint's)");
    cmd->add_option("--weights", a->weights, "a deeper checkpoint (safetensors), or the run or trial folder holding it")
        ->required()
        ->check(CLI::ExistingPath);
    cmd->add_option("--data", a->data, "the data spec, as for train (default: the checkpoint's)");
    cmd->add_option("--split", a->split, "train, val or test")->capture_default_str();
    cmd->add_option("--normalize", a->normalize,
                    "checkpoint (as trained), dataset (its training statistics), imagenet, or none (pixel / 255)")
        ->capture_default_str();
    cmd->add_option("--predictions", a->predictions, "write index,label,prediction,confidence per image to this CSV");
    cmd->add_option("--limit", a->limit, "only the split's first N images (default 0: all)");
    cmd->add_option("--inputs", a->inputs_npy, "write the images as the net saw them (N x C x H x W float32) to this .npy");
    cmd->add_option("--logits", a->logits_npy, "write the net's outputs (N x classes float32) to this .npy");
    cmd->add_option("--batch", a->batch, "batch size")->capture_default_str()->check(CLI::Range(1, search::kMaxBatch));
    cmd->add_option("--threads", a->threads, "threads (default: the cores this process may use)");
    cmd->add_option("--precision", a->precision, "f32 or bf16")->capture_default_str();
    cmd->add_option("--seed", a->seed, "the seed of the validation split (default: the checkpoint's)");
    cmd->add_option("--val-size", a->val_size, "validation images held out of train (default: the checkpoint's)");
    cmd->add_option("--eval-crop", a->eval_crop,
                    "the centred square of this share of the shorter side, e.g. 0.875 (default: the checkpoint's, else 1)");
    cmd->add_option("--data-threads", a->data_threads, "threads decoding batches ahead of the net (default 0: inline)");
    add_knob_options(*cmd, a->knobs);
    cmd->callback([a] { run_eval(*a); });
}

}  // namespace deeper::runners::cli
