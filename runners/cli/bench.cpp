// `deeper bench`: steady-state training and inference throughput on synthetic data.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <random>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "runners/cli/commands.hpp"
#include "runners/cli/knob_options.hpp"
#include "runners/cpu_budget.hpp"
#include "runners/engine/engine.hpp"
#include "runners/engine/inference_timing.hpp"
#include "runners/engine/optimizer.hpp"
#include "runners/engine/tuner.hpp"
#include "runners/machine_ceilings.hpp"
#include "runners/memory_budget.hpp"
#include "runners/table.hpp"
#include "search/net_spec.hpp"
#include "search/train_config.hpp"

namespace deeper::runners::cli {

namespace {

struct BenchArgs {
    std::vector<std::string> nets;
    std::string spec;                    // a net file, benched after the zoo's nets
    std::vector<std::string> positions;  // NAME=VALUE: the net file's ${NAME}
    KnobArgs knobs;
    int batch = 128;
    int threads = 0;
    int steps = 10;
    int warmup = 3;
    std::string precision = "f32";
    std::string format = "table";
    // A/B switches of the engine's choices, measured side by side in one run
    std::string conv_algorithm = "auto";
    std::string tune = "cached";
    bool layers = false;
    bool nodes = false;    // each node's share of the training step
    bool latency = false;  // inference latency instead: batch 1 unless --batch is given
    bool ceilings = false;  // the machine's arithmetic ceilings instead of nets
    bool batch_given = false;
    bool no_fusion = false, no_kernel_crop = false, no_memory_reuse = false, no_gemm = false;
};

double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024.0;  // Linux reports KiB
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

template <class F>
std::vector<double> time_steps(int warmup, int steps, F&& step) {
    std::vector<double> t;
    for (int i = 0; i < warmup + steps; ++i) {
        const auto a = std::chrono::steady_clock::now();
        step(i);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count();
        if (i >= warmup) t.push_back(s);
    }
    return t;
}

struct NamedNet {
    std::string name;  // the zoo's name, or the net file with its positions
    nets::Graph graph;
};

// The nets to bench with these knobs: the zoo's named ones, then the net file's.
std::vector<NamedNet> bench_nets(const BenchArgs& a, const nets::NetOptions& opts) {
    std::vector<NamedNet> out;
    for (const auto& name : a.nets) out.push_back({name, nets::build_net(name, opts)});
    if (a.spec.empty()) {
        if (!a.positions.empty()) throw InputError("bench: --position fills a net file's ${NAME}: give --spec FILE");
        return out;
    }
    search::TrainConfig c;
    apply_positions(a.positions, c);
    const std::string name = a.positions.empty() ? a.spec : fmt::format("{} {}", a.spec, fmt::join(a.positions, " "));
    out.push_back({name, search::build_spec_net(search::load_net_spec(a.spec, c.positions), opts)});
    return out;
}

// --nodes: each node's time in a training step (forward and backward, the mean of `steps`
// steps), e.g. to see where a measured plan wins or loses against the fixed rules.
std::string node_time_table(const std::string& name, const nets::Graph& g, CompiledNet& net, int steps,
                            const std::function<void(int)>& step) {
    net.time_nodes(true);
    for (int i = 0; i < steps; ++i) step(i);
    const std::vector<double> ms = net.node_ms();
    net.time_nodes(false);
    double total = 0;
    for (double x : ms) total += x;
    Table t;
    t.add_column("node");
    t.add_column("op");
    t.add_column("output");
    t.add_column("ms", true);
    t.add_column("share", true);
    for (std::size_t k = 1; k < ms.size(); ++k) {
        const nets::Node& n = g.node(int(k));
        t.add_row({n.name, nets::op_name(n.op), nets::shape_text(n.out),
                   fmt::format("{:.3f}", ms[k] / steps), fmt::format("{:.1f}%", 100 * ms[k] / total)});
    }
    return fmt::format("{}: {:.2f} ms per training step in its nodes (mean of {} steps)\n{}", name, total / steps,
                       steps, render(t, Format::table));
}

// --latency: what a search's latency_ms measures, timed afresh (never from the cache), so
// that two runs can be compared (scripts/bench/latency_repeatability.py, scripts/bench/retime_run.py).
void run_latency(const BenchArgs& a) {
    const Format f = parse_format(a.format);
    InferenceTimingOptions o;
    o.batch = a.batch_given ? a.batch : 1;
    o.threads = usable_threads(a.threads, "--threads");
    o.precision = parse_precision(a.precision);
    o.cache_folder = "off";
    Table t;
    for (const char* c : {"net", "knobs", "batch", "threads", "precision", "isa", "latency_ms", "p25_ms", "p75_ms",
                          "runs", "macs"})
        t.add_column(c, std::string(c) != "net" && std::string(c) != "knobs" && std::string(c) != "isa" &&
                            std::string(c) != "precision");
    for (const auto& opts : expand_knobs(a.knobs))
        for (const auto& [name, g] : bench_nets(a, opts)) {
            const InferenceTiming r = time_inference(g, o);
            t.add_row({name, nets::to_string(opts), std::to_string(o.batch), std::to_string(o.threads),
                       precision_name(o.precision), cpu_isa_name(), fmt::format("{:.4f}", r.median_ms),
                       fmt::format("{:.4f}", r.p25_ms), fmt::format("{:.4f}", r.p75_ms), std::to_string(r.runs),
                       std::to_string(g.total_macs())});
        }
    std::cout << render(t, f);
}

void run_ceilings(const BenchArgs& a) {
    const int threads = usable_threads(a.threads, "--threads");
    Table t;
    for (const char* c : {"ceiling", "kernel", "threads", "isa", "gflop_per_s"})
        t.add_column(c, std::string(c) == "threads" || std::string(c) == "gflop_per_s");
    for (const Ceiling& c : measure_ceilings(threads))
        t.add_row({c.what, c.isa, std::to_string(threads), cpu_isa_name(), fmt::format("{:.1f}", c.gflop_per_s)});
    std::cout << render(t, parse_format(a.format));
}

void run_bench(const BenchArgs& a) {
    if (a.ceilings) return run_ceilings(a);
    if (a.nets.empty() && a.spec.empty())
        throw InputError("bench: name at least one net (see `deeper nets`) or give --spec FILE");
    if (a.latency) return run_latency(a);
    const Format f = parse_format(a.format);
    const Precision precision = parse_precision(a.precision);
    if (a.batch <= 0 || a.steps <= 0) throw InputError("bench: --batch and --steps must be positive");
    const int threads = usable_threads(a.threads, "--threads");
    const ConvAlgorithm conv_algorithm = a.conv_algorithm == "direct"     ? ConvAlgorithm::direct
                                         : a.conv_algorithm == "winograd" ? ConvAlgorithm::winograd
                                         : a.conv_algorithm == "gemm"     ? ConvAlgorithm::gemm
                                         : a.conv_algorithm == "winograd-f2" ? ConvAlgorithm::winograd_f2
                                                                          : ConvAlgorithm::automatic;

    Table t;
    for (const char* c : {"net", "knobs", "batch", "threads", "precision", "tune", "compile_s", "isa", "train_img_per_s",
                          "infer_img_per_s", "train_gflop_per_s", "train_step_ms", "peak_rss_mib",
                          "arena_mib", "macs"})
        t.add_column(c, std::string(c) != "net" && std::string(c) != "knobs" && std::string(c) != "isa" &&
                            std::string(c) != "precision" && std::string(c) != "tune");
    const TuneMode tune = parse_tune_mode(a.tune);
    for (const auto& opts : expand_knobs(a.knobs)) {
        for (auto& [name, g] : bench_nets(a, opts)) {
            const std::int64_t macs = g.total_macs();
            const int classes = g.output().out.c;
            EngineOptions eo;
            eo.batch = a.batch;
            eo.threads = threads;
            eo.seed = 1;
            eo.precision = precision;
            eo.conv_algorithm = conv_algorithm;
            eo.fuse_bn_relu = !a.no_fusion;
            eo.crop_kernels = !a.no_kernel_crop;
            eo.gemm_convs = !a.no_gemm;
            eo.share_memory = !a.no_memory_reuse;
            eo.tune.mode = tune;
            eo.tune.on_note = [](const std::string& s) { std::cerr << s << "\n"; };
            require_memory(training_memory_floor(g, a.batch, precision),
                           fmt::format("training {} at batch {}", g.name, a.batch));
            const auto compile_start = std::chrono::steady_clock::now();
            Engine e(std::move(g), eo);
            const double compile_s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - compile_start).count();
            if (a.layers) {
                if (e.tuning()) std::cout << name << ":\n" << tuning_table(*e.tuning()) << "\n";
                else std::cout << name << ": not tuned (--tune off, or an algorithm asked for by name)\n\n";
            }
            std::mt19937 rng(1);
            std::normal_distribution<float> normal;
            for (std::size_t i = 0; i < e.input_floats(); ++i) e.input()[i] = normal(rng);
            std::vector<std::int32_t> labels(a.batch);
            for (auto& l : labels) l = std::int32_t(rng() % classes);
            OptimizerOptions oo;
            oo.weight_decay = 5e-4f;
            Optimizer sgd(e.params(), oo);

            auto train_step = [&](int i) {
                e.set_step(i);
                e.train_step(labels.data());
                sgd.step(0.01f);
            };
            const auto train = time_steps(a.warmup, a.steps, train_step);
            const double rss = peak_rss_mib();
            if (a.nodes) std::cout << node_time_table(name, e.graph(), e.train_net(), a.steps, train_step) << "\n";
            const auto infer = time_steps(a.warmup, a.steps, [&](int) { e.forward(false); });
            const double ts = median(train), is = median(infer);
            t.add_row({name, nets::to_string(opts), std::to_string(a.batch),
                       std::to_string(e.threads()), precision_name(precision),
                       e.tuning() ? tune_mode_name(tune) : "off", fmt::format("{:.2f}", compile_s), cpu_isa_name(),
                       fmt::format("{:.1f}", a.batch / ts), fmt::format("{:.1f}", a.batch / is),
                       fmt::format("{:.1f}", 6.0 * macs * a.batch / ts / 1e9),
                       fmt::format("{:.2f}", ts * 1e3), fmt::format("{:.0f}", rss),
                       fmt::format("{:.0f}", e.train_net().arena_bytes() / 1048576.0),
                       std::to_string(macs)});
        }
    }
    std::cout << render(t, f);
}

}  // namespace

void add_bench_command(CLI::App& app) {
    auto a = std::make_shared<BenchArgs>();
    auto* cmd = app.add_subcommand("bench", "Training and inference throughput on synthetic data");
    cmd->add_option("nets", a->nets, "zoo nets (see `deeper nets`)");
    cmd->add_option("--spec", a->spec, "a net defined in a YAML file, benched after the named nets")
        ->check(CLI::ExistingFile);
    add_position_option(*cmd, a->positions);
    auto* batch =
        cmd->add_option("--batch", a->batch, "batch size")->capture_default_str()->check(CLI::Range(1, search::kMaxBatch));
    cmd->add_option("--threads", a->threads, "threads (default: the cores this process may use)");
    cmd->add_option("--steps", a->steps, "timed steps (the median is reported)")->capture_default_str();
    cmd->add_option("--warmup", a->warmup, "untimed steps first")->capture_default_str();
    cmd->add_option("--precision", a->precision, "f32, or bf16 mixed precision (needs AVX512-BF16 or AMX)")
        ->capture_default_str();
    cmd->add_option("--format", a->format, "table, csv, md or json")->capture_default_str();
    cmd->add_option("--conv-algorithm", a->conv_algorithm, "auto, direct, winograd, gemm (im2col + matmul) or winograd-f2 (the engine's F(2x2, 3x3)) (A/B checks)")
        ->check(CLI::IsMember({"auto", "direct", "winograd", "gemm", "winograd-f2"}))
        ->capture_default_str();
    cmd->add_option("--tune", a->tune,
                    "off (the fixed rules), cached (measure each conv's forms unless the machine's cache holds "
                    "them) or force (measure again)")
        ->check(CLI::IsMember({"off", "cached", "force"}))
        ->capture_default_str();
    cmd->add_flag("--layers", a->layers, "print each conv's candidate forms, their times and the choice");
    cmd->add_flag("--nodes", a->nodes, "print each node's time in a training step (forward + backward)");
    cmd->add_flag("--latency", a->latency,
                  "inference latency as a search measures it: median and quartiles of at least 20 runs, batch 1 "
                  "unless --batch");
    cmd->add_flag("--no-fusion", a->no_fusion, "run batchnorm, ReLU and residual adds apart (A/B checks)");
    cmd->add_flag("--no-kernel-crop", a->no_kernel_crop, "run kernels larger than their maps uncut (A/B checks)");
    cmd->add_flag("--ceilings", a->ceilings,
                  "the machine's arithmetic ceilings instead of nets: multiply-add register loops and oneDNN's "
                  "2048^3 matmul, fp32 and bf16");
    cmd->add_flag("--no-gemm", a->no_gemm, "keep bf16 convs on small maps as oneDNN convolutions, not im2col + matmul (A/B checks)");
    cmd->add_flag("--no-memory-reuse", a->no_memory_reuse, "give every buffer its own memory (A/B checks)");
    add_knob_options(*cmd, a->knobs);
    cmd->footer(
        "train_gflop_per_s = 6 x MACs x images/s (forward, backward-data, backward-weights).\n"
        "peak_rss_mib is the process peak after training, before inference is compiled.\n"
        "compile_s includes the tuning (see --tune; the cache: $DEEPER_TUNE_CACHE, else ~/.cache/deeper/tune).\n"
        "Example: deeper bench resnet20 --batch 128 --threads 2");
    cmd->callback([a, batch] {
        a->batch_given = batch->count() > 0;
        run_bench(*a);
    });
}

}  // namespace deeper::runners::cli
