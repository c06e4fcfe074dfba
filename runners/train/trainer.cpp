#include "runners/train/trainer.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <sstream>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "runners/atomic_file.hpp"
#include "runners/cpu_budget.hpp"
#include "runners/memory_budget.hpp"
#include "runners/folder_lock.hpp"
#include "runners/data/batch_stream.hpp"
#include "runners/data/loader.hpp"
#include "runners/engine/engine.hpp"
#include "runners/engine/optimizer.hpp"
#include "runners/engine/quiet_gate.hpp"
#include "runners/engine/tune_cache.hpp"
#include "runners/table.hpp"
#include "runners/train/safetensors.hpp"
#include "runners/train/torchvision_names.hpp"
#include "runners/version.hpp"
#include "search/net_positions.hpp"
#include "search/net_spec.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;

nets::Graph build_graph(const TrainConfig& c, const data::Dataset& d) {
    nets::NetOptions o = c.knobs;
    if (!o.classes) o.classes = d.classes;
    if (!o.in_channels) o.in_channels = d.channels;
    if (c.spec.empty() == c.net.empty())
        throw InputError("give exactly one of a zoo net (net) or a net file (spec)");
    if (!c.positions.empty() && c.spec.empty())
        throw InputError(fmt::format("{}{}: positions fill a net file (spec), and this trial has a zoo net",
                                     search::kPositionPrefix, c.positions.begin()->first));
    if (!c.spec.empty()) {
        const search::NetSpec spec = search::load_net_spec(c.spec, c.positions);
        // A net file without a resolution trains at the data's own size.
        if (!o.resolution && !spec.has_resolution) o.resolution = d.height;
        return search::build_spec_net(spec, o);
    }
    return nets::build_net(c.net, o);
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
}


// The top-level scopes ("stage1.", "head.") of the classifier heads ("head", "aux*") or of
// everything else (the encoder).
std::vector<std::string> top_scopes(const nets::Graph& g, bool heads) {
    std::set<std::string> tops;
    for (const auto& n : g.nodes) {
        const std::string top = n.name.substr(0, n.name.find('.'));
        const bool head = top == "head" || top.rfind("aux", 0) == 0;
        if (top != "input" && head == heads) tops.insert(top + ".");
    }
    return {tops.begin(), tops.end()};
}

// The node-name prefixes an option names: each must start some node's name; `keyword` stands for
// the heads' or the encoder's scopes (--freeze encoder, --init-skip head).
std::vector<std::string> node_prefixes(const std::vector<std::string>& given, const nets::Graph& g,
                                       const char* option, const char* keyword, bool keyword_is_heads) {
    std::vector<std::string> out;
    for (const auto& f : given) {
        if (f == keyword) {
            const auto tops = top_scopes(g, keyword_is_heads);
            out.insert(out.end(), tops.begin(), tops.end());
            continue;
        }
        bool any = false;
        for (const auto& n : g.nodes) any = any || n.name.rfind(f, 0) == 0;
        if (!any) throw InputError(fmt::format("--{} {}: no node of {} starts with it", option, f, g.name));
        out.push_back(f);
    }
    return out;
}

struct EvalStats {
    double loss = NAN, top1 = NAN, top5 = NAN;  // NAN: no images to evaluate (an image folder without test/)
};

// How a run's batches are built: inline, or ahead on threads of their own (batch_stream.hpp).
data::PassOptions pass_options(const TrainConfig& cfg, int epoch, bool shuffle, std::size_t first, std::size_t end) {
    data::PassOptions o;
    o.seed = cfg.seed;
    o.epoch = epoch;
    o.shuffle = shuffle;
    o.batch = cfg.batch;
    o.first = first;
    o.end = end;
    o.threads = cfg.data_threads;
    o.depth = cfg.prefetch;
    return o;
}

EvalStats evaluate(Engine& e, const data::Loader& l, const TrainConfig& cfg) {
    if (l.size() == 0) return {};
    std::vector<std::int32_t> labels(e.batch());
    double loss = 0;
    std::size_t top1 = 0, top5 = 0, seen = 0;
    data::BatchStream batches(l, pass_options(cfg, 0, false, 0, l.batches(e.batch(), false)));
    while (!batches.done()) {
        const int real = batches.next(e.input(), labels.data());
        {
            const QuietGate::Work w(process_quiet_gate());
            e.forward(false);
        }
        const auto dims = e.output_dims(0);
        const LossStats s = softmax_cross_entropy(e.output(0), labels.data(), real, int(dims[1]),
                                                  0.f, 1.f, nullptr);
        loss += s.loss * real;
        top1 += s.top1_correct;
        top5 += s.top5_correct;
        seen += real;
    }
    return {loss / seen, double(top1) / seen, double(top5) / seen};
}

// ---- checkpoints ----

struct RunState {
    int epoch = 0;           // completed epochs
    std::size_t batch = 0;   // next batch of the epoch in progress
    std::uint64_t step = 0;  // global step
    double sum_loss = 0;     // running sums of the epoch in progress
    std::size_t correct = 0, seen = 0;
    double elapsed_s = 0;
};

// What must match for a checkpoint to be resumed: the config, but not where the run folder is,
// nor the precision (fp32 master weights are saved: a bf16 run may continue in fp32 and back),
// nor how batches are built (the same batches either way).
std::string resume_identity(TrainConfig c) {
    c.out.clear();
    c.precision.clear();
    c.tune.clear();
    c.data_threads = TrainConfig{}.data_threads;
    c.prefetch = TrainConfig{}.prefetch;
    return c.to_yaml();
}

// Compared as configs, not as text: options added since the checkpoint was written take their
// defaults on both sides, so a newer deeper resumes an older run.
bool same_run(const std::map<std::string, std::string>& m, const TrainConfig& cfg) {
    auto it = m.find("identity");
    if (it == m.end()) it = m.find("config");  // checkpoints written before the identity was kept
    if (it == m.end()) return false;
    try {
        return resume_identity(search::parse_train_config(it->second, "checkpoint")) == resume_identity(cfg);
    } catch (const InputError&) {  // an option this deeper does not know: another run
        return false;
    }
}

const std::string& metadata_text(const std::map<std::string, std::string>& m, const std::string& path, const char* k) {
    auto it = m.find(k);
    if (it == m.end()) throw InputError(fmt::format("{}: metadata has no {}", path, k));
    return it->second;
}

std::uint64_t metadata_count(const std::map<std::string, std::string>& m, const std::string& path, const char* k) {
    const std::string& v = metadata_text(m, path, k);
    if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos)
        throw InputError(fmt::format("{}: metadata {} is '{}', not a whole number (a damaged checkpoint?)", path, k, v));
    return std::stoull(v);
}

// "0.286,0.353": a normalization's numbers for the checkpoint's metadata (what `deeper eval`
// feeds the net).
std::string number_list(const std::vector<float>& v) {
    std::string s;
    for (float x : v) s += (s.empty() ? "" : ",") + fmt::format("{:.9g}", x);
    return s;
}

void save_checkpoint(const std::string& path, Engine& e, Optimizer& opt, const RunState& st,
                     const TrainConfig& cfg, const data::Normalization& norm) {
    SafeTensors t;
    auto& store = e.params();
    for (size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        std::vector<std::int64_t> shape(p.dims.begin(), p.dims.end());
        t.tensors[p.name] = {shape, store.read_plain(int(i), e.dnnl_engine(), e.stream())};
        if (p.is_state) continue;
        for (auto& [kind, buf] : opt.state())
            t.tensors["optimizer." + kind + "." + p.name] = {
                shape, store.read_plain_from(int(i), buf, e.dnnl_engine(), e.stream())};
    }
    t.metadata = {{"format", "deeper-checkpoint-1"},
                  {"deeper_version", kVersion},
                  {"net", e.graph().name},
                  {"epoch", std::to_string(st.epoch)},
                  {"batch", std::to_string(st.batch)},
                  {"step", std::to_string(st.step)},
                  {"sum_loss", fmt::format("{:a}", st.sum_loss)},  // hex float: exact
                  {"correct", std::to_string(st.correct)},
                  {"seen", std::to_string(st.seen)},
                  {"elapsed_s", fmt::format("{:a}", st.elapsed_s)},
                  {"seed", std::to_string(cfg.seed)},
                  {"precision", cfg.precision},
                  {"conv_plan", conv_plan_text(e.conv_plan())},
                  {"config", cfg.to_yaml()},
                  {"identity", resume_identity(cfg)},
                  {"normalize_mean", number_list(norm.mean)},
                  {"normalize_std", number_list(norm.std)}};
    write_safetensors(path, t);
}

RunState load_checkpoint(const std::string& path, Engine& e, Optimizer& opt) {
    const SafeTensors t = read_safetensors(path);
    auto& store = e.params();
    for (size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        auto it = t.tensors.find(p.name);
        if (it == t.tensors.end()) throw InputError(fmt::format("{}: no tensor {}", path, p.name));
        const std::vector<std::int64_t> shape(p.dims.begin(), p.dims.end());
        if (it->second.shape != shape)
            throw InputError(fmt::format("{}: tensor {} has the shape {}, the net needs {}", path, p.name,
                                         shape_text(it->second.shape), shape_text(shape)));
        store.write_plain(int(i), it->second.data.data(), e.dnnl_engine(), e.stream());
        if (p.is_state) continue;
        for (auto& [kind, buf] : opt.state()) {
            auto o = t.tensors.find("optimizer." + kind + "." + p.name);
            if (o == t.tensors.end() || o->second.data.size() != it->second.data.size())
                throw InputError(fmt::format("{}: no optimizer state for {} of its shape", path, p.name));
            store.write_plain_to(int(i), o->second.data.data(), buf, e.dnnl_engine(), e.stream());
        }
    }
    auto meta = [&](const char* k) { return metadata_text(t.metadata, path, k); };
    auto count = [&](const char* k) { return metadata_count(t.metadata, path, k); };
    RunState st;
    st.epoch = int(count("epoch"));
    st.batch = count("batch");
    st.step = count("step");
    st.sum_loss = std::strtod(meta("sum_loss").c_str(), nullptr);
    st.correct = count("correct");
    st.seen = count("seen");
    st.elapsed_s = std::strtod(meta("elapsed_s").c_str(), nullptr);
    return st;
}

// --init: tensors that match by name and shape, but those under a `skip` prefix; says what it
// skipped.
std::string init_from(const std::string& path, Engine& e, const std::vector<std::string>& skip) {
    const SafeTensors t = read_safetensors(path);
    auto& store = e.params();
    std::vector<std::string> skipped;
    int loaded = 0;
    for (size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        const std::optional<Tensor> found = find_weights(t, e.graph().name, p.name);  // deeper's or torchvision's name
        std::vector<std::int64_t> shape(p.dims.begin(), p.dims.end());
        const bool skipped_by_option =
            std::any_of(skip.begin(), skip.end(), [&](const std::string& s) { return p.name.rfind(s, 0) == 0; });
        if (skipped_by_option) {
            skipped.push_back(p.name + " (--init-skip: freshly initialized)");
        } else if (!found) {
            skipped.push_back(p.name + " (not in the checkpoint)");
        } else if (found->shape != shape) {
            skipped.push_back(fmt::format("{} (shape {} in the checkpoint, {} here: re-initialized)", p.name,
                                          shape_text(found->shape), shape_text(shape)));
        } else {
            store.write_plain(int(i), found->data.data(), e.dnnl_engine(), e.stream());
            ++loaded;
        }
    }
    if (loaded == 0)
        throw InputError(fmt::format("--init {}: no tensor matches {} by name and shape (weights of another net?); "
                                     "first of the {} not taken: {}",
                                     path, e.graph().name, skipped.size(), skipped.empty() ? "-" : skipped.front()));
    std::string msg = fmt::format("init: loaded {} tensors from {}", loaded, path);
    if (!skipped.empty()) {
        msg += fmt::format("; skipped {}:", skipped.size());
        for (const auto& s : skipped) msg += "\n  " + s;
    }
    return msg;
}

// ---- metrics.csv ----

std::string metrics_header() {
    std::string h;
    for (const auto& name : epoch_metric_names()) h += (h.empty() ? "" : ",") + name;
    return h;
}

std::string metrics_row(const EpochMetrics& m) {
    std::string row;
    visit_epoch_metrics(m, [&](const char*, double v) { row += fmt::format("{}{:.6g}", row.empty() ? "" : ",", v); });
    return row;
}

// Keeps the rows of epochs up to `epochs` (a resumed run rewrites what came after).
void truncate_metrics(const std::string& path, int epochs) {
    std::ifstream in(path);
    std::vector<std::string> keep;
    std::string line;
    while (std::getline(in, line)) {
        if (keep.empty()) { keep.push_back(line); continue; }
        if (std::stoi(line.substr(0, line.find(','))) <= epochs) keep.push_back(line);
    }
    std::string text;
    for (const auto& l : keep) text += l + '\n';
    write_atomically(path, text);
}

void append_line(const std::string& path, const std::string& line) {
    std::ofstream out(path, std::ios::app);
    out << line << '\n' << std::flush;
    if (!out) throw RunError(fmt::format("{}: cannot append ({})", path, std::strerror(errno)));
}

// The data a run reads: the split, the normalization, and a loader per use.
struct RunData {
    RunData(const TrainConfig& cfg, data::TrainTest sets)
        : sets(std::move(sets)),
          // a set with a validation set of its own holds nothing out of train
          split(data::split(this->sets.train.size(), this->sets.has_val() ? 0 : std::size_t(cfg.val_size), cfg.seed,
                            std::size_t(cfg.train_limit), cfg.train_fraction)) {
        if (split.train.empty())
            throw InputError(fmt::format("train: {} has no training images (an image folder trains from "
                                         "train/<class>/; one of val/ or test/ alone can only be evaluated)",
                                         cfg.data));
        if (split.train.size() < std::size_t(cfg.batch))
            throw InputError(fmt::format("train: {} training images is less than one batch of {}", split.train.size(),
                                         cfg.batch));
    }
    // The loaders, once the net says the input's channels and size.
    void make_loaders(const TrainConfig& cfg, const nets::Shape& input) {
        norm = data::named_normalization(cfg.normalize, sets.train, split.train);
        data::Transform tr;
        tr.channels = input.c;
        tr.resolution = input.h;
        tr.eval_crop = cfg.eval_crop;
        data::Transform train_tr = tr;
        train_tr.augment = cfg.augment;
        train_tr.crop = data::parse_crop(cfg.crop);
        train_tr.pad = cfg.crop_pad;
        train_tr.range = {cfg.crop_scale[0], cfg.crop_scale[1], cfg.crop_ratio[0], cfg.crop_ratio[1]};
        train_tr.flip = cfg.flip;
        const std::vector<std::uint32_t> eval_subset(
            split.train.begin(), split.train.begin() + std::min<std::size_t>(split.train.size(), cfg.train_eval_size));
        std::vector<std::uint32_t> all_test(sets.test.size());
        std::iota(all_test.begin(), all_test.end(), 0u);
        train.emplace(sets.train, split.train, norm, train_tr);
        if (sets.has_val()) {
            std::vector<std::uint32_t> all_val(sets.val.size());
            std::iota(all_val.begin(), all_val.end(), 0u);
            val.emplace(sets.val, all_val, norm, tr);
        } else {
            val.emplace(sets.train, split.val, norm, tr);
        }
        train_eval.emplace(sets.train, eval_subset, norm, tr);
        test.emplace(sets.test, all_test, norm, tr);
    }
    data::TrainTest sets;
    data::Split split;
    data::Normalization norm;  // per source channel, from the training split (kept in checkpoints)
    std::optional<data::Loader> train, val, train_eval, test;

    // Streamed files found unreadable mid-run (skip_corrupt: trained as blank images).
    std::size_t unreadable() const {
        return train->unreadable() + val->unreadable() + train_eval->unreadable() + test->unreadable();
    }
    std::string first_unreadable() const {
        for (const auto* l : {&train, &val, &train_eval, &test})
            if ((*l)->unreadable() > 0) return (*l)->first_unreadable();
        return {};
    }
};

Optimizer make_optimizer(const TrainConfig& cfg, ParamStore& params) {
    OptimizerOptions oo;
    oo.kind = cfg.optimizer;
    if (oo.kind != "sgd" && oo.kind != "rmsprop")
        throw InputError(fmt::format("train: optimizer must be sgd or rmsprop, got '{}'", cfg.optimizer));
    oo.momentum = float(cfg.momentum);
    oo.nesterov = cfg.nesterov;
    oo.weight_decay = float(cfg.weight_decay);
    oo.decay_norm_and_bias = cfg.decay_norm_and_bias;
    oo.rmsprop_decay = float(cfg.rmsprop_decay);
    oo.rmsprop_eps = float(cfg.rmsprop_eps);
    return Optimizer(params, oo);
}

// One training run, from its config to its result: data and net first (refusing what cannot
// run before anything is written), then the run folder, then the epochs.
class TrainingRun {
public:
    TrainingRun(const TrainConfig& cfg, const TrainHooks& hooks, bool resume)
        : cfg_(cfg), hooks_(hooks), resume_(resume), precision_(checked_precision(cfg)), data_(cfg, data::load(cfg.data)),
          engine_(compile(build_checked_graph())), opt_(make_optimizer(cfg, engine_->params())) {
        if (!data_.sets.skipped.empty() && hooks_.on_note)
            hooks_.on_note(fmt::format("data: skipped {} unreadable file(s), the first: {}", data_.sets.skipped.size(),
                                       data_.sets.skipped.front()));
        result_.threads = engine_->threads();
        if (cfg_.data_threads > 0 && engine_->threads() + cfg_.data_threads > available_cores() && hooks_.on_note)
            hooks_.on_note(fmt::format("note: {} data thread(s) beside {} net thread(s) on {} core(s): the net's threads "
                                       "will wait for the cores (--threads {} leaves the data threads theirs)",
                                       cfg_.data_threads, engine_->threads(), available_cores(),
                                       std::max(1, available_cores() - cfg_.data_threads)));
        result_.isa = cpu_isa_name();
        result_.precision = precision_name(precision_);
        result_.conv_plan = conv_plan_hash(engine_->conv_plan());
        // Cross-entropy starts near ln(classes); three orders of magnitude above it the weights
        // have blown up (lr 1000 reaches 1e31 and stays there): stop instead of finishing "done".
        diverged_loss_ = 1000 * std::log(double(std::max<std::int64_t>(2, engine_->output_dims(0)[1])));
    }

    TrainResult run() {
        open_folder(resume_);
        if (paused_at(st_.epoch)) return result_;  // killed after the rung's epoch, before its report
        for (int epoch = st_.epoch; epoch < cfg_.epochs; ++epoch) {
            const auto epoch_start = Clock::now();
            const std::size_t first_batch = st_.batch;
            if (!train_epoch(epoch, epoch_start)) {  // stopped: checkpointed mid-epoch
                result_.interrupted = true;
                result_.wall_s = st_.elapsed_s;
                return result_;
            }
            finish_epoch(epoch, epoch_start, first_batch);
            if (paused_at(epoch + 1)) return result_;
        }
        const EvalStats t = evaluate(*engine_, *data_.test, cfg_);
        result_.test_loss = t.loss;
        result_.test_top1 = t.top1;
        result_.test_top5 = t.top5;
        result_.wall_s = st_.elapsed_s + seconds_since(start_);
        write_result();
        return result_;
    }

private:
    // A rung of early stopping reached after `epochs` completed epochs (TrainHooks).
    bool paused_at(int epochs) {
        if (hooks_.pause_after_epochs <= 0 || epochs < hooks_.pause_after_epochs || epochs >= cfg_.epochs) return false;
        result_.paused = true;
        result_.wall_s = st_.elapsed_s + seconds_since(start_);
        return true;
    }

    static Precision checked_precision(const TrainConfig& cfg) {
        const Precision p = parse_precision(cfg.precision);
        if (cfg.batch <= 0 || cfg.epochs <= 0) throw InputError("train: --batch and --epochs must be positive");
        search::learning_rate(cfg, 0);  // validates the schedule name
        return p;
    }

    nets::Graph build_checked_graph() {
        nets::Graph g = build_graph(cfg_, data_.sets.train);
        require_memory(training_memory_floor(g, cfg_.batch, precision_),
                       fmt::format("training {} at batch {}", g.name, cfg_.batch));
        if (g.output().out.c < data_.sets.train.classes)
            throw InputError(fmt::format("train: {} has {} outputs but {} has {} classes", g.name, g.output().out.c,
                                         cfg_.data, data_.sets.train.classes));
        data_.make_loaders(cfg_, g.input_shape());
        if (hooks_.on_graph) hooks_.on_graph(g);
        result_.net = g.name;
        result_.params = g.total_params();
        result_.macs = g.total_macs();
        return g;
    }

    std::unique_ptr<Engine> compile(nets::Graph g) {
        EngineOptions eo;
        eo.batch = cfg_.batch;
        eo.threads = usable_threads(cfg_.threads, "threads");
        eo.seed = cfg_.seed;
        eo.frozen = node_prefixes(cfg_.freeze, g, "freeze", "encoder", false);
        eo.precision = precision_;
        eo.tune.mode = tune_mode();
        eo.tune.on_note = hooks_.on_note;
        if (auto recorded = recorded_plan()) {
            eo.conv_plan = *recorded;
            eo.tune.mode = TuneMode::off;  // the checkpoint's forms, so the run resumes bit for bit
        }
        if (hooks_.on_note)  // a deep net compiles for a while before the first step shows progress
            hooks_.on_note(fmt::format("compiling {} ({} nodes) for batch {} in {}", g.name, g.nodes.size(),
                                       cfg_.batch, precision_name(precision_)));
        return std::make_unique<Engine>(std::move(g), eo);
    }

    TuneMode tune_mode() const { return parse_tune_mode(cfg_.tune); }

    // The conv plan the run folder's checkpoint was trained with, when this run resumes it in
    // the same precision (a checkpoint from before plans were recorded has none).
    std::optional<ConvPlan> recorded_plan() const {
        if (!resume_ || cfg_.out.empty()) return std::nullopt;
        const std::string ckpt = (fs::path(cfg_.out) / "checkpoint.safetensors").string();
        if (!fs::exists(ckpt)) return std::nullopt;
        const auto meta = read_safetensors_metadata(ckpt);
        auto plan = meta.find("conv_plan");
        auto precision = meta.find("precision");
        if (plan == meta.end() || precision == meta.end() || precision->second != cfg_.precision) return std::nullopt;
        return parse_conv_plan(plan->second, ckpt);
    }

    // Takes the folder (one writer), then resumes from its checkpoint, or starts: --init
    // weights, a fresh metrics.csv. config.yaml says what runs there.
    void open_folder(bool resume) {
        if (cfg_.out.empty()) {  // a run without a folder: no checkpoint, nothing to resume
            init_weights();
            return;
        }
        fs::create_directories(cfg_.out);
        lock_.emplace((fs::path(cfg_.out) / ".lock").string(), "run folder " + cfg_.out);
        ckpt_ = (fs::path(cfg_.out) / "checkpoint.safetensors").string();
        metrics_ = (fs::path(cfg_.out) / "metrics.csv").string();
        if (resume && fs::exists(ckpt_)) {
            if (!same_run(read_safetensors_metadata(ckpt_), cfg_))
                throw InputError(fmt::format("{}: the checkpoint was made with another config; "
                                             "resume with the same options (see {}/config.yaml)",
                                             ckpt_, cfg_.out));
            st_ = load_checkpoint(ckpt_, *engine_, opt_);
            if (st_.epoch > cfg_.epochs)
                throw InputError(fmt::format("{}: records epoch {} of a run of {} epochs: not this run's checkpoint",
                                             ckpt_, st_.epoch, cfg_.epochs));
            if (fs::exists(metrics_)) truncate_metrics(metrics_, st_.epoch);
            if (hooks_.on_note)
                hooks_.on_note(fmt::format("resumed from {} at epoch {} batch {}", ckpt_, st_.epoch + 1, st_.batch));
        } else {
            init_weights();
            write_atomically(metrics_, metrics_header() + '\n');
        }
        write_atomically((fs::path(cfg_.out) / "config.yaml").string(), cfg_.to_yaml());
        write_atomically((fs::path(cfg_.out) / "conv_plan.txt").string(), plan_file_text());
    }

    // What conv_plan.txt says: the forms by node, or that the fixed rules ran.
    std::string plan_file_text() const {
        const ConvPlan& p = engine_->conv_plan();
        std::string head = fmt::format("# conv plan {} ({}, tune {}, {})\n", conv_plan_hash(p), precision_name(precision_),
                                       cfg_.tune, machine_key());
        if (p.empty()) return head + "# the fixed rules of runners/engine/layers/conv.cpp\n";
        return head + conv_plan_text(p);
    }

    void init_weights() {
        if (cfg_.init.empty()) return;
        const auto skip = node_prefixes(cfg_.init_skip, engine_->graph(), "init-skip", "head", true);
        const std::string report = init_from(cfg_.init, *engine_, skip);
        if (hooks_.on_note) hooks_.on_note(report);
    }

    // The steps of one epoch from where the state stands; false when a stop was requested (the
    // run is checkpointed mid-epoch and resumes at the next step).
    bool train_epoch(int epoch, Clock::time_point epoch_start) {
        Engine& e = *engine_;
        const std::size_t nb = data_.train->batches(cfg_.batch, true), first_batch = st_.batch;
        labels_.resize(std::size_t(cfg_.batch));  // once per run: the steps allocate nothing
        data::BatchStream batches(*data_.train, pass_options(cfg_, epoch, true, st_.batch, nb));
        for (std::size_t b = st_.batch; b < nb; ++b) {
            const double lr = search::learning_rate(cfg_, epoch + double(b) / nb);
            batches.next(e.input(), labels_.data());
            e.set_step(st_.step);
            LossStats s;
            {
                const QuietGate::Work w(process_quiet_gate());  // a timing beside it waits for the step
                s = e.train_step(labels_.data(), float(cfg_.label_smoothing));
                if (!std::isfinite(s.loss) || s.loss > diverged_loss_)
                    throw RunError(fmt::format("diverged at epoch {} step {} (loss {:.4g}; chance level is {:.3g})",
                                               epoch + 1, st_.step + 1, s.loss, diverged_loss_ / 1000));
                opt_.step(float(lr));
            }
            ++st_.step;
            st_.batch = b + 1;
            st_.sum_loss += s.loss * cfg_.batch;
            st_.correct += s.top1_correct;
            st_.seen += cfg_.batch;
            if (hooks_.on_step) {
                Progress p{epoch + 1, cfg_.epochs, b + 1, nb, st_.sum_loss / st_.seen,
                           (b + 1 - first_batch) * cfg_.batch / std::max(seconds_since(epoch_start), 1e-9), 0};
                p.eta_s = (nb - b - 1) * cfg_.batch / std::max(p.img_per_s, 1e-9);
                hooks_.on_step(p);
            }
            if (hooks_.stop && hooks_.stop->load()) {
                st_.epoch = epoch;
                st_.elapsed_s += seconds_since(start_);
                if (!ckpt_.empty()) save_checkpoint(ckpt_, e, opt_, st_, cfg_, data_.norm);
                return false;
            }
        }
        return true;
    }

    // Evaluation, then the epoch's metrics row and hook (the journal's record), then its
    // checkpoint. In that order a process killed in between resumes from the checkpoint before
    // and trains the epoch again; the other way round it would resume after an epoch whose
    // metrics nobody wrote down (an early-stopping rung would read no metric).
    void finish_epoch(int epoch, Clock::time_point epoch_start, std::size_t first_batch) {
        EpochMetrics m;
        m.epoch = epoch + 1;
        m.lr = search::learning_rate(cfg_, epoch);
        m.train_loss = st_.sum_loss / std::max<std::size_t>(1, st_.seen);
        m.train_top1 = double(st_.correct) / std::max<std::size_t>(1, st_.seen);
        const std::size_t nb = data_.train->batches(cfg_.batch, true);
        m.img_per_s = (nb - first_batch) * cfg_.batch / std::max(seconds_since(epoch_start), 1e-9);
        const EvalStats v = evaluate(*engine_, *data_.val, cfg_);
        m.val_loss = v.loss;
        m.val_top1 = v.top1;
        m.val_top5 = v.top5;
        const EvalStats te = evaluate(*engine_, *data_.train_eval, cfg_);
        m.train_eval_loss = te.loss;
        m.train_eval_top1 = te.top1;
        m.epoch_s = seconds_since(epoch_start);
        result_.epochs.push_back(m);
        if (!metrics_.empty()) append_line(metrics_, metrics_row(m));
        if (hooks_.on_epoch) hooks_.on_epoch(m);
        st_ = RunState{epoch + 1, 0, st_.step, 0, 0, 0, st_.elapsed_s};
        if (!ckpt_.empty()) save_checkpoint(ckpt_, *engine_, opt_, st_, cfg_, data_.norm);
        note_unreadable();
    }

    void note_unreadable() {
        const std::size_t n = data_.unreadable();
        if (n == noted_unreadable_ || !hooks_.on_note) return;
        noted_unreadable_ = n;
        hooks_.on_note(fmt::format("data: {} read(s) of unreadable files so far, trained as blank images; the first: {}",
                                   n, data_.first_unreadable()));
    }

    void write_result() const {
        if (cfg_.out.empty()) return;
        write_atomically(
            (fs::path(cfg_.out) / "result.csv").string(),
            "net,params,macs,epochs,test_loss,test_top1,test_top5,wall_s,threads,precision,isa,conv_plan,deeper_version\n" +
                fmt::format("{},{},{},{},{:.6f},{:.6f},{:.6f},{:.1f},{},{},{},{},{}\n", result_.net, result_.params,
                            result_.macs, cfg_.epochs, *result_.test_loss, *result_.test_top1, *result_.test_top5,
                            result_.wall_s, result_.threads, result_.precision, result_.isa, result_.conv_plan,
                            kVersion));
    }

    const TrainConfig& cfg_;
    const TrainHooks& hooks_;
    const bool resume_;
    const Clock::time_point start_ = Clock::now();
    TrainResult result_;
    Precision precision_;
    RunData data_;
    std::unique_ptr<Engine> engine_;
    Optimizer opt_;
    std::optional<FolderLock> lock_;
    std::string ckpt_, metrics_;
    RunState st_;
    double diverged_loss_ = 0;
    std::size_t noted_unreadable_ = 0;
    std::vector<std::int32_t> labels_;
};

}  // namespace

TrainResult train(const TrainConfig& cfg, bool resume, const TrainHooks& hooks) {
    return TrainingRun(cfg, hooks, resume).run();
}

int checkpoint_epoch(const std::string& run_dir) {
    const std::string ckpt = (fs::path(run_dir) / "checkpoint.safetensors").string();
    if (!fs::exists(ckpt)) return 0;
    return int(metadata_count(read_safetensors_metadata(ckpt), ckpt, "epoch"));
}

}  // namespace deeper::runners
