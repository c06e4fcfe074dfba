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
#include "runners/data/loader.hpp"
#include "runners/engine/engine.hpp"
#include "runners/engine/optimizer.hpp"
#include "runners/table.hpp"
#include "runners/train/safetensors.hpp"
#include "runners/version.hpp"
#include "search/net_spec.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;

nets::Graph build_graph(const TrainConfig& c, const data::Dataset& d) {
    nets::NetOptions o = c.knobs;
    if (!o.classes) o.classes = d.classes;
    if (!o.in_channels) o.in_channels = d.channels;
    if (c.spec.empty() == c.net.empty())
        throw InputError("give exactly one of a zoo net (net) or a net file (spec)");
    if (!c.spec.empty()) {
        const search::NetSpec spec = search::load_net_spec(c.spec);
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


// "encoder" freezes every node outside the classifier heads ("head", "aux*").
std::vector<std::string> frozen_prefixes(const TrainConfig& c, const nets::Graph& g) {
    std::vector<std::string> out;
    for (const auto& f : c.freeze) {
        if (f != "encoder") {
            bool any = false;
            for (const auto& n : g.nodes) any = any || n.name.rfind(f, 0) == 0;
            if (!any) throw InputError(fmt::format("--freeze {}: no node of {} starts with it", f, g.name));
            out.push_back(f);
            continue;
        }
        std::set<std::string> tops;
        for (const auto& n : g.nodes) {
            const std::string top = n.name.substr(0, n.name.find('.'));
            if (top != "input" && top != "head" && top.rfind("aux", 0) != 0) tops.insert(top + ".");
        }
        out.insert(out.end(), tops.begin(), tops.end());
    }
    return out;
}

struct EvalStats {
    double loss = 0, top1 = 0, top5 = 0;
};

EvalStats evaluate(Engine& e, const data::Loader& l, std::uint64_t seed) {
    if (l.size() == 0) return {};
    std::vector<std::int32_t> labels(e.batch());
    double loss = 0;
    std::size_t top1 = 0, top5 = 0, seen = 0;
    for (std::size_t b = 0; b < l.batches(e.batch(), false); ++b) {
        const int real = l.fill(seed, 0, b, e.batch(), false, e.input(), labels.data());
        e.forward(false);
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

// What must match for a checkpoint to be resumed: the config, but not where the run folder is
// nor the precision (fp32 master weights are saved: a bf16 run may continue in fp32 and back).
std::string resume_identity(TrainConfig c) {
    c.out.clear();
    c.precision.clear();
    return c.to_yaml();
}

bool same_run(const std::map<std::string, std::string>& m, const TrainConfig& cfg) {
    if (auto it = m.find("identity"); it != m.end()) return it->second == resume_identity(cfg);
    auto it = m.find("config");  // checkpoints written before the identity was kept
    return it != m.end() && it->second == cfg.to_yaml();
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

void save_checkpoint(const std::string& path, Engine& e, Optimizer& opt, const RunState& st,
                     const TrainConfig& cfg) {
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
                  {"config", cfg.to_yaml()},
                  {"identity", resume_identity(cfg)}};
    write_safetensors(path, t);
}

RunState load_checkpoint(const std::string& path, Engine& e, Optimizer& opt) {
    const SafeTensors t = read_safetensors(path);
    auto& store = e.params();
    for (size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        auto it = t.tensors.find(p.name);
        if (it == t.tensors.end()) throw InputError(fmt::format("{}: no tensor {}", path, p.name));
        store.write_plain(int(i), it->second.data.data(), e.dnnl_engine(), e.stream());
        if (p.is_state) continue;
        for (auto& [kind, buf] : opt.state()) {
            auto o = t.tensors.find("optimizer." + kind + "." + p.name);
            if (o == t.tensors.end()) throw InputError(fmt::format("{}: no optimizer state for {}", path, p.name));
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

// --init: tensors that match by name and shape; says what it skipped.
std::string init_from(const std::string& path, Engine& e) {
    const SafeTensors t = read_safetensors(path);
    auto& store = e.params();
    std::vector<std::string> skipped;
    int loaded = 0;
    for (size_t i = 0; i < store.infos().size(); ++i) {
        const auto& p = store.info(int(i));
        auto it = t.tensors.find(p.name);
        std::vector<std::int64_t> shape(p.dims.begin(), p.dims.end());
        if (it == t.tensors.end()) {
            skipped.push_back(p.name + " (not in the checkpoint)");
        } else if (it->second.shape != shape) {
            std::string have, want;
            for (auto d : it->second.shape) have += (have.empty() ? "" : "x") + std::to_string(d);
            for (auto d : shape) want += (want.empty() ? "" : "x") + std::to_string(d);
            skipped.push_back(fmt::format("{} (shape {} in the checkpoint, {} here: re-initialized)",
                                          p.name, have, want));
        } else {
            store.write_plain(int(i), it->second.data.data(), e.dnnl_engine(), e.stream());
            ++loaded;
        }
    }
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

}  // namespace

TrainResult train(const TrainConfig& cfg, bool resume, const TrainHooks& hooks) {
    const auto start = Clock::now();
    const Precision precision = parse_precision(cfg.precision);
    if (cfg.batch <= 0 || cfg.epochs <= 0) throw InputError("train: --batch and --epochs must be positive");
    search::learning_rate(cfg, 0);  // validates the schedule name

    const data::TrainTest data = data::load(cfg.data);
    const data::Split split = data::split(data.train.size(), std::size_t(cfg.val_size), cfg.seed,
                                          std::size_t(cfg.train_limit));
    if (split.train.size() < std::size_t(cfg.batch))
        throw InputError(fmt::format("train: {} training images is less than one batch of {}",
                                     split.train.size(), cfg.batch));
    nets::Graph g = build_graph(cfg, data.train);
    require_memory(training_memory_floor(g, cfg.batch, precision), fmt::format("training {} at batch {}", g.name, cfg.batch));
    if (g.output().out.c < data.train.classes)
        throw InputError(fmt::format("train: {} has {} outputs but {} has {} classes", g.name,
                                     g.output().out.c, cfg.data, data.train.classes));
    const data::Normalization norm = data::channel_stats(data.train, split.train);
    data::Transform tr;
    tr.channels = g.input_shape().c;
    tr.resolution = g.input_shape().h;
    data::Transform train_tr = tr;
    train_tr.augment = cfg.augment;
    train_tr.pad = cfg.crop_pad;
    train_tr.flip = cfg.flip;
    const data::Loader train_loader(data.train, split.train, norm, train_tr);
    const data::Loader val_loader(data.train, split.val, norm, tr);
    std::vector<std::uint32_t> eval_subset(split.train.begin(),
                                           split.train.begin() + std::min<std::size_t>(split.train.size(), cfg.train_eval_size));
    const data::Loader train_eval_loader(data.train, eval_subset, norm, tr);
    std::vector<std::uint32_t> all_test(data.test.size());
    std::iota(all_test.begin(), all_test.end(), 0u);
    const data::Loader test_loader(data.test, all_test, norm, tr);

    TrainResult result;
    result.net = g.name;
    result.params = g.total_params();
    result.macs = g.total_macs();
    EngineOptions eo;
    eo.batch = cfg.batch;
    eo.threads = usable_threads(cfg.threads, "threads");
    eo.seed = cfg.seed;
    eo.frozen = frozen_prefixes(cfg, g);
    eo.precision = precision;
    if (hooks.on_note)  // a deep net compiles for a while before the first step shows progress
        hooks.on_note(fmt::format("compiling {} ({} nodes) for batch {} in {}", g.name, g.nodes.size(), cfg.batch,
                                  precision_name(precision)));
    Engine e(std::move(g), eo);
    result.threads = e.threads();
    result.isa = cpu_isa_name();
    result.precision = precision_name(precision);

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
    Optimizer opt(e.params(), oo);

    std::string out = cfg.out;
    std::optional<FolderLock> lock;
    if (!out.empty()) {
        fs::create_directories(out);
        lock.emplace((fs::path(out) / ".lock").string(), "run folder " + out);
    }
    const std::string ckpt = out.empty() ? "" : (fs::path(out) / "checkpoint.safetensors").string();
    const std::string metrics = out.empty() ? "" : (fs::path(out) / "metrics.csv").string();

    RunState st;
    if (resume && !ckpt.empty() && fs::exists(ckpt)) {
        if (!same_run(read_safetensors_metadata(ckpt), cfg))
            throw InputError(fmt::format("{}: the checkpoint was made with another config; "
                                         "resume with the same options (see {}/config.yaml)", ckpt, out));
        st = load_checkpoint(ckpt, e, opt);
        if (!metrics.empty() && fs::exists(metrics)) truncate_metrics(metrics, st.epoch);
        if (hooks.on_note)
            hooks.on_note(fmt::format("resumed from {} at epoch {} batch {}", ckpt, st.epoch + 1, st.batch));
    } else {
        if (!cfg.init.empty()) {
            const std::string report = init_from(cfg.init, e);
            if (hooks.on_note) hooks.on_note(report);
        }
        if (!metrics.empty()) write_atomically(metrics, metrics_header() + '\n');
    }
    if (!out.empty()) write_atomically((fs::path(out) / "config.yaml").string(), cfg.to_yaml());

    const std::size_t nb = train_loader.batches(cfg.batch, true);
    std::vector<std::int32_t> labels(cfg.batch);
    // Cross-entropy starts near ln(classes); three orders of magnitude above it the weights
    // have blown up (lr 1000 reaches 1e31 and stays there): stop instead of finishing "done".
    const double diverged_loss = 1000 * std::log(double(std::max<std::int64_t>(2, e.output_dims(0)[1])));
    for (int epoch = st.epoch; epoch < cfg.epochs; ++epoch) {
        const auto epoch_start = Clock::now();
        const std::size_t first_batch = st.batch;
        for (std::size_t b = st.batch; b < nb; ++b) {
            const double lr = search::learning_rate(cfg, epoch + double(b) / nb);
            train_loader.fill(cfg.seed, epoch, b, cfg.batch, true, e.input(), labels.data());
            e.set_step(st.step);
            const LossStats s = e.train_step(labels.data(), float(cfg.label_smoothing));
            if (!std::isfinite(s.loss) || s.loss > diverged_loss)
                throw RunError(fmt::format("diverged at epoch {} step {} (loss {:.4g}; chance level is {:.3g})",
                                           epoch + 1, st.step + 1, s.loss, diverged_loss / 1000));
            opt.step(float(lr));
            ++st.step;
            st.batch = b + 1;
            st.sum_loss += s.loss * cfg.batch;
            st.correct += s.top1_correct;
            st.seen += cfg.batch;
            if (hooks.on_step) {
                const double t = seconds_since(epoch_start);
                Progress p{epoch + 1, cfg.epochs, b + 1, nb, st.sum_loss / st.seen,
                           (b + 1 - first_batch) * cfg.batch / std::max(t, 1e-9), 0};
                p.eta_s = (nb - b - 1) * cfg.batch / std::max(p.img_per_s, 1e-9);
                hooks.on_step(p);
            }
            if (hooks.stop && hooks.stop->load()) {
                st.epoch = epoch;
                st.elapsed_s += seconds_since(start);
                if (!ckpt.empty()) save_checkpoint(ckpt, e, opt, st, cfg);
                result.interrupted = true;
                result.wall_s = st.elapsed_s;
                return result;
            }
        }
        EpochMetrics m;
        m.epoch = epoch + 1;
        m.lr = search::learning_rate(cfg, epoch);
        m.train_loss = st.sum_loss / std::max<std::size_t>(1, st.seen);
        m.train_top1 = double(st.correct) / std::max<std::size_t>(1, st.seen);
        const double train_s = seconds_since(epoch_start);
        m.img_per_s = (nb - first_batch) * cfg.batch / std::max(train_s, 1e-9);
        const EvalStats v = evaluate(e, val_loader, cfg.seed);
        m.val_loss = v.loss;
        m.val_top1 = v.top1;
        m.val_top5 = v.top5;
        const EvalStats te = evaluate(e, train_eval_loader, cfg.seed);
        m.train_eval_loss = te.loss;
        m.train_eval_top1 = te.top1;
        m.epoch_s = seconds_since(epoch_start);
        result.epochs.push_back(m);
        st = RunState{epoch + 1, 0, st.step, 0, 0, 0, st.elapsed_s};
        if (!ckpt.empty()) save_checkpoint(ckpt, e, opt, st, cfg);
        if (!metrics.empty()) append_line(metrics, metrics_row(m));
        if (hooks.on_epoch) hooks.on_epoch(m);
    }
    const EvalStats t = evaluate(e, test_loader, cfg.seed);
    result.test_loss = t.loss;
    result.test_top1 = t.top1;
    result.test_top5 = t.top5;
    result.wall_s = st.elapsed_s + seconds_since(start);
    if (!out.empty()) {
        write_atomically(
            (fs::path(out) / "result.csv").string(),
            "net,params,macs,epochs,test_loss,test_top1,test_top5,wall_s,threads,precision,isa,deeper_version\n" +
                fmt::format("{},{},{},{},{:.6f},{:.6f},{:.6f},{:.1f},{},{},{},{}\n", result.net, result.params,
                            result.macs, cfg.epochs, t.loss, t.top1, t.top5, result.wall_s, result.threads,
                            result.precision, result.isa, kVersion));
    }
    return result;
}

int checkpoint_epoch(const std::string& run_dir) {
    const std::string ckpt = (fs::path(run_dir) / "checkpoint.safetensors").string();
    if (!fs::exists(ckpt)) return 0;
    return int(metadata_count(read_safetensors_metadata(ckpt), ckpt, "epoch"));
}

}  // namespace deeper::runners
