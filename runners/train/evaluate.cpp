#include "runners/train/evaluate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <sstream>

#include "nets/error.hpp"
#include "runners/atomic_file.hpp"
#include "runners/cpu_budget.hpp"
#include "runners/data/dataset.hpp"
#include "runners/data/batch_stream.hpp"
#include "runners/data/loader.hpp"
#include "runners/engine/engine.hpp"
#include "runners/engine/loss.hpp"
#include "runners/npy.hpp"
#include "runners/train/safetensors.hpp"
#include "runners/train/torchvision_names.hpp"
#include "runners/train/trainer.hpp"

namespace deeper::runners {

namespace {

std::vector<float> floats(const std::string& text, const std::string& path, const char* key) {
    std::vector<float> v;
    std::stringstream ss(text);
    for (std::string item; std::getline(ss, item, ',');) {
        char* end = nullptr;
        v.push_back(std::strtof(item.c_str(), &end));
        if (item.empty() || *end) throw InputError(fmt::format("{}: metadata {} is not a list of numbers", path, key));
    }
    return v;
}

data::Normalization normalization(const EvalConfig& c, const SafeTensors& weights, const data::TrainTest& sets,
                                  const data::Split& split) {
    const int channels = sets.train.channels;
    if (c.normalize == "checkpoint") {
        const auto mean = weights.metadata.find("normalize_mean"), sd = weights.metadata.find("normalize_std");
        if (mean == weights.metadata.end() || sd == weights.metadata.end())
            throw InputError(fmt::format("{}: the checkpoint does not record its input normalization (written "
                                         "before deeper kept it); give --normalize dataset, imagenet or none",
                                         c.weights));
        data::Normalization n{floats(mean->second, c.weights, "normalize_mean"),
                              floats(sd->second, c.weights, "normalize_std")};
        if (int(n.mean.size()) != channels || n.std.size() != n.mean.size())
            throw InputError(fmt::format("{}: normalized {} channel(s) in training; {} has {}", c.weights,
                                         n.mean.size(), c.run.data, channels));
        for (std::size_t i = 0; i < n.mean.size(); ++i)
            if (!std::isfinite(n.mean[i]) || !std::isfinite(n.std[i]) || !(n.std[i] > 0))
                throw InputError(fmt::format("{}: metadata normalize_mean/std of channel {} are {} and {}: a mean "
                                             "must be finite and a standard deviation above 0",
                                             c.weights, i, n.mean[i], n.std[i]));
        return n;
    }
    if (c.normalize != "dataset" && c.normalize != "imagenet" && c.normalize != "none")
        throw InputError(fmt::format("--normalize: expected checkpoint, dataset, imagenet or none, got '{}'", c.normalize));
    return data::named_normalization(c.normalize, sets.train, split.train);
}

// Every parameter and running statistic from the file, refusing a missing, misshapen or
// non-finite one, and a file with tensors the net does not use (another net's weights).
void load_weights(const SafeTensors& t, const std::string& path, Engine& e) {
    auto& store = e.params();
    std::set<std::string> used;
    for (std::size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        const std::optional<Tensor> found = find_weights(t, e.graph().name, p.name, &used);  // deeper's or torchvision's name
        if (!found)
            throw InputError(fmt::format("{}: no tensor {} (weights of another net, or other knobs?)", path, p.name));
        const std::vector<std::int64_t> shape(p.dims.begin(), p.dims.end());
        if (found->shape != shape)
            throw InputError(fmt::format("{}: tensor {} has the shape {} in the file, the net needs {} (other knobs, or "
                                         "another number of classes?)",
                                         path, p.name, shape_text(found->shape), shape_text(shape)));
        if (const std::size_t bad = non_finite_count(*found))
            throw InputError(fmt::format("{}: tensor {} holds {} NaN or infinite value(s) (a diverged run's weights?)",
                                         path, p.name, bad));
        store.write_plain(int(i), found->data.data(), e.dnnl_engine(), e.stream());
    }
    if (const auto unused = unused_tensors(t, used); !unused.empty())
        throw InputError(fmt::format("{}: {} tensor(s) the net {} does not use, e.g. {} (weights of another net, or "
                                     "other knobs?)",
                                     path, unused.size(), e.graph().name, unused.front()));
}

// The conv plan a checkpoint's run compiled with, when the evaluation runs in the run's
// precision: its numbers then come out as the run's own evaluations did. Empty (the fixed
// rules) for weights without one.
ConvPlan recorded_plan(const SafeTensors& weights, const std::string& file, const std::string& precision) {
    auto plan = weights.metadata.find("conv_plan");
    auto trained_in = weights.metadata.find("precision");
    if (plan == weights.metadata.end() || trained_in == weights.metadata.end() || trained_in->second != precision)
        return {};
    return parse_conv_plan(plan->second, file);
}

}  // namespace

EvalResult evaluate_weights(const EvalConfig& c) {
    if (c.split != "train" && c.split != "val" && c.split != "test")
        throw InputError(fmt::format("--split: expected train, val or test, got '{}'", c.split));
    const SafeTensors weights = read_safetensors(c.weights);
    const data::TrainTest sets = data::load(c.run.data);
    // the run's own split (and training subset, which its "dataset" normalization was taken from)
    const data::Split split = data::split(sets.train.size(), sets.has_val() ? 0 : std::size_t(c.run.val_size),
                                          c.run.seed, std::size_t(c.run.train_limit), c.run.train_fraction);
    // the images of the split, in the dataset's order
    const data::Dataset& d = c.split == "test" ? sets.test : c.split == "val" && sets.has_val() ? sets.val : sets.train;
    std::vector<std::uint32_t> indices;
    if (c.split == "train") indices = split.train;
    else if (c.split == "val" && !sets.has_val()) indices = split.val;
    else indices.resize(d.size()), std::iota(indices.begin(), indices.end(), 0u);
    if (indices.empty()) throw InputError(fmt::format("{}: the {} split has no images", c.run.data, c.split));
    if (c.limit > 0 && c.limit < indices.size()) indices.resize(c.limit);

    nets::Graph g = build_graph(c.run, sets.train);
    const nets::Shape input = g.node(0).out;
    EngineOptions eo;
    eo.batch = c.run.batch;
    eo.threads = usable_threads(c.run.threads, "threads");
    eo.training = false;
    eo.precision = parse_precision(c.run.precision);
    eo.conv_plan = recorded_plan(weights, c.weights, c.run.precision);
    Engine e(std::move(g), eo);
    load_weights(weights, c.weights, e);

    data::Transform tr;
    tr.channels = input.c;
    tr.resolution = input.h;
    tr.eval_crop = c.run.eval_crop;
    const data::Loader loader(d, indices, normalization(c, weights, sets, split), tr);
    std::vector<std::int32_t> labels(std::size_t(e.batch()));
    std::string csv = "index,label,prediction,confidence\n";
    std::vector<float> inputs, all_logits;
    EvalResult r;
    double loss = 0;
    std::size_t top1 = 0, top5 = 0;
    data::PassOptions pass;
    pass.batch = e.batch();
    pass.end = loader.batches(e.batch(), false);
    pass.threads = c.run.data_threads;
    pass.depth = c.run.prefetch;
    data::BatchStream batches(loader, pass);
    for (std::size_t b = 0; b < pass.end; ++b) {
        const int real = batches.next(e.input(), labels.data());
        e.forward(false);
        const int k = int(e.output_dims(0)[1]);
        const float* logits = e.output(0);
        if (!c.inputs_npy.empty()) inputs.insert(inputs.end(), e.input(), e.input() + std::size_t(real) * input.elems());
        if (!c.logits_npy.empty()) all_logits.insert(all_logits.end(), logits, logits + std::size_t(real) * k);
        const LossStats s = softmax_cross_entropy(logits, labels.data(), real, k, 0.f, 1.f, nullptr);
        loss += s.loss * real;
        top1 += s.top1_correct;
        top5 += s.top5_correct;
        if (!c.predictions.empty())
            for (int i = 0; i < real; ++i) {
                const float* z = logits + std::size_t(i) * k;
                const int best = int(std::max_element(z, z + k) - z);
                double sum = 0;
                for (int j = 0; j < k; ++j) sum += std::exp(double(z[j]) - z[best]);
                csv += fmt::format("{},{},{},{:.6f}\n", indices[b * std::size_t(e.batch()) + std::size_t(i)],
                                   labels[std::size_t(i)], best, 1.0 / sum);
            }
        r.images += std::size_t(real);
    }
    r.loss = loss / double(r.images);
    r.top1 = double(top1) / double(r.images);
    r.top5 = double(top5) / double(r.images);
    if (!c.predictions.empty()) write_atomically(c.predictions, csv);
    const auto n = std::int64_t(r.images);
    if (!c.inputs_npy.empty()) write_npy(c.inputs_npy, {n, input.c, input.h, input.w}, inputs);
    if (!c.logits_npy.empty())
        write_npy(c.logits_npy, {n, std::int64_t(all_logits.size()) / std::max<std::int64_t>(n, 1)}, all_logits);
    return r;
}

}  // namespace deeper::runners
