// The tuner: forms parse back, the faster form wins (a form made slower on purpose loses),
// the cache makes the second compile measure nothing and refuses to trust what it cannot
// read, every form it can pick passes the gradient check, and a resumed run keeps the plan
// its checkpoint records; a plan mixing precisions needs no more memory than fp32.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <omp.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nets/builder.hpp"
#include "nets/error.hpp"
#include "runners/engine/engine.hpp"
#include "runners/engine/layers/channels_innermost.hpp"
#include "runners/engine/tune_cache.hpp"
#include "runners/engine/tuner.hpp"
#include "runners/train/trainer.hpp"
#include "support.hpp"
#include "support/gradcheck.hpp"

using namespace deeper::runners;
using deeper::InputError;
using deeper::test::slurp;
using deeper::test::TempDir;
namespace nets = deeper::nets;

namespace {

// conv 3x3 16->16 + bn + relu, a strided conv, a depthwise conv and a 1x1: every candidate
// list the tuner has (Winograd, gemm on small maps, grouped).
nets::Graph tune_net(int res = 8) {
    nets::Builder b("tune-net", {16, res, res});
    int x = b.relu(b.batchnorm(b.conv(b.input(), 16, 3, 1, 1, false, "c3"), "b3"), "r3");
    x = b.relu(b.batchnorm(b.conv(x, 32, 3, 2, 1, false, "c3s2"), "b3s2"), "r3s2");
    x = b.conv(x, 32, 3, 1, 32, false, "dw");
    x = b.conv(x, 16, 1, 1, 1, true, "pw");
    x = b.linear(b.flatten(b.global_avg_pool(x)), 10, true, "fc");
    b.mark_output(x);
    return b.finish();
}

// A 5x5 stride-2 depthwise conv, as EfficientNet's: in bf16, oneDNN 2.6 has only its reference
// backward-weights kernel for it, and the engine's own loop runs instead.
nets::Graph depthwise_net() {
    nets::Builder b("dw-net", {16, 8, 8});
    int x = b.conv(b.input(), 16, 5, 2, 16, false, "dw5s2");
    b.mark_output(b.linear(b.flatten(b.global_avg_pool(x)), 10, true, "fc"));
    return b.finish();
}

// Also sets the process's OpenMP threads to the options': tune_conv_plan times with the
// current setting (part of every cache key), an Engine sets it from o.threads, and a test run
// before this one may have left another.
EngineOptions tuned(const std::string& cache, Precision p = Precision::f32) {
    EngineOptions o;
    o.batch = 8;
    o.threads = 2;
    omp_set_num_threads(o.threads);
    o.precision = p;
    o.tune.mode = TuneMode::cached;
    o.tune.cache_folder = cache;
    return o;
}

// Each form, then (where a batch norm follows and the CPU runs them) each with the engine's
// batch-norm kernels.
std::vector<ConvForm> with_own_bn(std::vector<ConvForm> forms, bool bn_follows) {
    const std::size_t n = forms.size();
    for (std::size_t i = 0; i < n; ++i) {
        ConvForm f = forms[i];
        f.own_bn = true;
        if (bn_follows && deeper::runners::layers::channels_innermost_kernels_run_here(f.type)) forms.push_back(f);
    }
    return forms;
}

// DEEPER_TUNE_CACHE for the runs of one test, whatever way it ends.
struct CacheEnv {
    explicit CacheEnv(const std::string& folder) { ::setenv("DEEPER_TUNE_CACHE", folder.c_str(), 1); }
    ~CacheEnv() { ::unsetenv("DEEPER_TUNE_CACHE"); }
};

}  // namespace

TEST_CASE("conv forms and plans print and parse back, and a bad plan line is named", "[tune]") {
    const nets::Graph g = tune_net();
    for (Precision p : {Precision::f32, Precision::bf16})
        for (const auto& n : g.nodes) {
            if (n.op != nets::Op::conv) continue;
            for (ConvForm f : candidate_forms(n, p))
                for (bool own_bn : {false, true}) {
                    f.own_bn = own_bn;
                    INFO(n.name << " " << conv_form_name(f));
                    REQUIRE(parse_conv_form(conv_form_name(f)) == f);
                }
        }
    CHECK(parse_conv_form("bf16:direct+own-bn")->own_bn);
    CHECK_FALSE(parse_conv_form("bf16:direct")->own_bn);
    const ConvPlan plan = {{"a.conv", *parse_conv_form("bf16:gemm")},
                           {"b", *parse_conv_form("f32:winograd/direct/winograd")},
                           {"c", *parse_conv_form("f32:direct+own-bn")}};
    CHECK(parse_conv_plan(conv_plan_text(plan), "x") == plan);
    CHECK(conv_plan_hash(plan) != conv_plan_hash({}));
    for (const char* bad : {"f32", "f16:direct", "f32:winograd/direct", "bf16:fast", "f32:direct+own", "+own-bn"})
        CHECK_FALSE(parse_conv_form(bad));
    CHECK_THROWS_WITH(parse_conv_plan("a f32:direct\nb bf16:slow\n", "ckpt"),
                      Catch::Contains("ckpt: line 2") && Catch::Contains("b bf16:slow"));
    CHECK_THROWS_WITH(parse_conv_plan("a f32:direct\na f32:winograd\n", "ckpt"), Catch::Contains("names a again"));
    CHECK_THROWS_WITH(parse_tune_mode("fast"), Catch::Contains("unknown tune mode 'fast'"));
}

TEST_CASE("the tuner picks the faster form: one made slower on purpose loses", "[tune]") {
    TempDir dir("tune-inject");
    const nets::Graph g = tune_net();
    const ConvForm direct{}, wino = *parse_conv_form("f32:winograd");
    const ConvForm wino_weights = *parse_conv_form("f32:direct/direct/winograd");  // the rule at 16-31 channels
    for (const ConvForm& slow : {direct, wino, wino_weights}) {
        EngineOptions o = tuned(dir.path().string());
        // every candidate of c3 but one made 1 s slower: that one must be chosen
        o.tune.injected_ms = [&](const std::string& node, const ConvForm& f) {
            return node == "c3" && !(f == slow) ? 1000.0 : 0.0;
        };
        const Tuning t = tune_conv_plan(g, o);
        INFO("fast form " << conv_form_name(slow));
        REQUIRE(t.layers.size() == 4);
        CHECK(t.layers[0].node == "c3");
        CHECK(t.layers[0].chosen == slow);
        CHECK(t.layers[0].candidates.size() >= 5);  // direct, three Winograds, gemm on the 8x8 map
        if (!t.plan.empty()) CHECK(t.plan.at("c3") == slow);
        CHECK(tuning_table(t).find("c3") != std::string::npos);
    }
}

TEST_CASE("the engine's batch-norm kernels are timed after the fastest form of each type, and kept when faster",
          "[tune]") {
    if (!deeper::runners::layers::channels_innermost_kernels_run_here(dnnl::memory::data_type::f32)) {
        WARN("no AVX-512: the tuner has no batch-norm kernels of its own to time");
        return;
    }
    TempDir dir("tune-own-bn");
    const nets::Graph g = tune_net();
    const ConvForm wino = *parse_conv_form("f32:winograd"), wino_own = *parse_conv_form("f32:winograd+own-bn");
    for (bool own_wins : {true, false}) {
        EngineOptions o = tuned(dir.path().string());
        // c3 (conv + bn + relu): Winograd the fastest form, its own-kernel variant faster still
        // or much slower
        o.tune.injected_ms = [&](const std::string& node, const ConvForm& f) {
            if (node != "c3") return 0.0;
            if (f == wino) return 500.0;
            if (f == wino_own) return own_wins ? 0.0 : 2000.0;
            return 1000.0;
        };
        const Tuning t = tune_conv_plan(g, o);
        const LayerTuning& c3 = t.layers.at(0);
        REQUIRE(c3.node == "c3");
        int own_timed = 0;
        for (const auto& c : c3.candidates) own_timed += c.form.own_bn;
        CHECK(own_timed == 1);  // fp32 only: one variant, after Winograd
        CHECK(c3.chosen == (own_wins ? wino_own : wino));
        CHECK(c3.candidates.back().form == wino_own);
        // the depthwise conv "dw" feeds no batch norm: nothing of the kind is timed for it
        for (const auto& c : t.layers.at(2).candidates) CHECK_FALSE(c.form.own_bn);
    }
}

TEST_CASE("a conv is timed reading its input in the type the plan gave the conv before it", "[tune]") {
    if (!cpu_has_bf16()) {
        WARN("no bf16 instructions: every form is fp32");
        return;
    }
    TempDir dir("tune-arriving");
    const nets::Graph g = tune_net();
    for (const dnnl::memory::data_type first : {dnnl::memory::data_type::bf16, dnnl::memory::data_type::f32}) {
        EngineOptions o = tuned(dir.path().string(), Precision::bf16);
        o.tune.injected_ms = [&](const std::string& node, const ConvForm& f) {
            return node == "c3" && f.type != first ? 1000.0 : 0.0;
        };
        const Tuning t = tune_conv_plan(g, o);
        REQUIRE(t.layers.at(0).chosen.type == first);
        // c3s2's candidates of the other type convert c3's output, in their recorded times
        const bool bf16_first = first == dnnl::memory::data_type::bf16;
        const std::string other = bf16_first ? ", fed bf16: f32:" : ", fed f32: bf16:";
        const std::string cache = slurp(TuneCache(dir.path().string()).path());
        INFO("c3 in " << (bf16_first ? "bf16" : "f32"));
        CHECK(cache.find("conv 3x3/s2 16x8x8->32x4x4 + bn + relu, batch 8, threads 2" + other) != std::string::npos);
    }
}

TEST_CASE("a conv fed by a layer is timed after a 1x1 conv of at most 16 channels, with its data gradient",
          "[tune]") {
    nets::Builder b("wide", {16, 8, 8});
    int x = b.relu(b.batchnorm(b.conv(b.input(), 64, 3, 1, 1, false, "c1"), "b1"), "r1");
    x = b.relu(b.batchnorm(b.conv(x, 64, 3, 1, 1, false, "c2"), "b2"), "r2");
    b.mark_output(b.linear(b.flatten(b.global_avg_pool(x)), 10, true, "fc"));
    const nets::Graph g = b.finish();
    const auto f32 = dnnl::memory::data_type::f32;
    // backward primitives the segment's conv runs in one training step: weights, and data
    // when its input needs a gradient
    auto conv_backward_runs = [&](const std::string& conv, const std::vector<std::string>& frozen) {
        EngineOptions o = tuned("");
        o.frozen = frozen;
        TimedSegment s = timed_segment(g, g.find(conv), o, ConvForm{}, f32);
        Engine& e = *s.engine;
        const nets::Graph& sg = e.graph();
        const int timed_conv = sg.find("conv");
        REQUIRE(timed_conv == s.first_timed_node);
        CHECK(sg.node(timed_conv).out.c == 64);
        const nets::Shape conv_input = g.node(g.node(g.find(conv)).inputs.at(0)).out;
        if (const int pre = sg.find("pre"); pre >= 0) {
            CHECK(sg.node(0).out.c == 16);  // not the 64 channels c2 reads
            CHECK(sg.node(pre).out == conv_input);
        } else {
            CHECK(sg.node(0).out == conv_input);
        }
        std::fill(e.input(), e.input() + e.input_floats(), 0.5f);
        e.forward(true);
        const auto d = e.output_dims();
        std::fill(e.output_grad(), e.output_grad() + d[0] * d[1] * d[2] * d[3], 1e-3f);
        e.backward();
        return e.train_net().backward_runs(timed_conv);
    };
    CHECK(conv_backward_runs("c1", {}) == 1);  // the net's input needs no gradient
    CHECK(conv_backward_runs("c2", {}) == 2);
    CHECK(conv_backward_runs("c2", {"c1", "b1"}) == 1);  // nothing before c2 learns
}

TEST_CASE("the second compile reads every time from the cache and gets the same plan", "[tune]") {
    TempDir dir("tune-cache");
    const nets::Graph g = tune_net();
    const EngineOptions o = tuned(dir.path().string());
    const Tuning first = tune_conv_plan(g, o);
    CHECK(first.measured > 0);
    CHECK(first.cached == 0);
    const Tuning second = tune_conv_plan(g, o);
    CHECK(second.measured == 0);
    CHECK(second.cached == first.measured);
    CHECK(second.plan == first.plan);
    // force measures everything again, and its times are the ones kept
    EngineOptions force = o;
    force.tune.mode = TuneMode::force;
    const Tuning forced = tune_conv_plan(g, force);
    CHECK(forced.measured == first.measured);
    CHECK(forced.cached == 0);
    const Tuning after = tune_conv_plan(g, o);
    CHECK(after.measured == 0);
    CHECK(after.plan == forced.plan);
    REQUIRE(after.layers.size() == forced.layers.size());
    for (std::size_t i = 0; i < after.layers.size(); ++i)
        for (std::size_t j = 0; j < after.layers[i].candidates.size(); ++j)
            CHECK(after.layers[i].candidates[j].ms == forced.layers[i].candidates[j].ms);
    // an Engine compiled with tuning runs with that plan
    const Engine e(g, o);
    REQUIRE(e.tuning());
    CHECK(e.conv_plan() == after.plan);
    CHECK(e.tuning()->measured == 0);
}

TEST_CASE("a corrupt or foreign tune cache is ignored with a note, not trusted", "[tune]") {
    TempDir dir("tune-bad-cache");
    const nets::Graph g = tune_net();
    EngineOptions o = tuned(dir.path().string());
    const Tuning first = tune_conv_plan(g, o);
    const std::string file = TuneCache(dir.path().string()).path();
    REQUIRE(std::filesystem::exists(file));
    const std::string good = slurp(file);

    // torn and foreign lines among good ones: the good ones still count
    std::ofstream(file, std::ios::app) << "{\"key\": \"x\", \"ms\": \"fast\"}\nnot json at all\n{\"key\": \"y\", \"ms\": -1}\n";
    std::vector<std::string> notes;
    o.tune.on_note = [&](const std::string& s) { notes.push_back(s); };
    const Tuning torn = tune_conv_plan(g, o);
    CHECK(torn.measured == 0);
    CHECK(torn.plan == first.plan);
    REQUIRE_FALSE(notes.empty());
    CHECK_THAT(notes.front(), Catch::Contains("3 line(s) that are not measurements ignored"));

    // a file measured on another machine: nothing of it is used
    std::string foreign = good;
    foreign.replace(0, foreign.find('\n'), "{\"machine\": \"Some Other CPU, isa avx2, oneDNN 2.6.3\"}");
    std::ofstream(file, std::ios::trunc) << foreign;
    notes.clear();
    const Tuning other = tune_conv_plan(g, o);
    CHECK(other.cached == 0);
    CHECK(other.measured == first.measured);
    REQUIRE_FALSE(notes.empty());
    CHECK_THAT(notes.front(), Catch::Contains("measured on another machine (Some Other CPU"));

    // a folder where the file should be: tuning still works, nothing cached, said once
    std::filesystem::remove(file);
    std::filesystem::create_directories(file);
    notes.clear();
    const Tuning unwritable = tune_conv_plan(g, o);
    CHECK(unwritable.measured == first.measured);
    CHECK(std::count_if(notes.begin(), notes.end(),
                        [](const std::string& n) { return n.find("not written") != std::string::npos; }) == 1);
}

TEST_CASE("every form the tuner can pick passes the gradient check, in fp32 and bf16", "[tune][gradcheck]") {
    std::vector<Precision> precisions{Precision::f32};
    if (cpu_has_bf16()) precisions.push_back(Precision::bf16);
    for (const nets::Graph& g : {tune_net(8), depthwise_net()})
    for (const auto& n : g.nodes) {
        if (n.op != nets::Op::conv) continue;
        // the conv alone, as its segment runs in the tuner: conv + bn + activation (conv +
        // relu for a conv with a bias, whose gradient a batch norm would cancel), then a head
        const auto& a = std::get<nets::ConvAttrs>(n.attrs);
        auto one_conv = [&](nets::Op activation) {
            nets::Builder b("one-conv", g.node(n.inputs[0]).out);
            int x = b.conv(b.input(), a, "conv");
            x = b.activation(a.bias ? x : b.batchnorm(x, "bn"), activation, "act");
            b.mark_output(b.linear(b.flatten(b.global_avg_pool(x)), 4, true, "fc"));
            return b.finish();
        };
        for (Precision p : precisions)
            for (ConvForm f : with_own_bn(candidate_forms(n, p), !a.bias))
            // the engine's batch-norm kernels also run the ReLU6 and swish after them
            for (nets::Op activation : f.own_bn ? std::vector{nets::Op::relu, nets::Op::relu6, nets::Op::swish}
                                                : std::vector{nets::Op::relu}) {
                const nets::Graph one = one_conv(activation);
                deeper::test::GradcheckOptions o;
                o.batch = 4;  // the batch norm after the strided conv normalizes 4x4 maps: 64 values
                if (p == Precision::bf16) {
                    o = deeper::test::bf16_options(o);
                    o.bf16_against_fp32 = true;  // conv + bn + relu: normwise, as the nets are checked
                    // Winograd rounds its transformed tiles to bf16 as well, two roundings more
                    // than the direct conv: c3's weight gradient, whose terms cancel under the
                    // batch norm, is off by 7.2% normwise against the direct conv's 3.8%
                    if (f.winograd_f2) o.bf16_norm_rtol = 0.1;
                }
                o.conv_plan = {{"conv", f}};
                INFO(n.name << "'s conv as " << conv_form_name(f) << " in " << precision_name(p) << ", then "
                            << nets::op_name(activation));
                deeper::test::gradcheck(one, o);
            }
    }
}

TEST_CASE("a resumed run keeps the conv plan its checkpoint records, bit for bit", "[tune][train]") {
    TempDir dir("tune-resume");
    const std::string cache = (dir.path() / "cache").string();
    const CacheEnv env(cache);
    const auto spec = dir.write("net.yaml", "type: plain\nlayers: [16, 16, M, 32]\nbatchnorm: true\nclassifier: []\n");
    TrainConfig c;
    c.spec = spec;
    c.data = "synthetic:600";
    c.val_size = 100;
    c.train_eval_size = 100;
    c.batch = 25;
    c.epochs = 2;
    c.threads = 2;
    c.seed = 5;
    c.out = (dir.path() / "straight").string();
    const TrainResult straight = train(c, false);
    const std::string plan = slurp(dir.path() / "straight" / "conv_plan.txt");
    CHECK_THAT(plan, Catch::Contains("# conv plan " + straight.conv_plan));

    c.out = (dir.path() / "stopped").string();
    std::atomic<bool> stop{false};
    TrainHooks hooks;
    hooks.stop = &stop;
    int steps = 0;
    hooks.on_step = [&](const Progress&) {
        if (++steps == 30) stop = true;  // mid-epoch 2 (20 steps per epoch)
    };
    REQUIRE(train(c, false, hooks).interrupted);
    CHECK(slurp(dir.path() / "stopped" / "conv_plan.txt") == plan);

    // The cache now says another form is fastest everywhere: a fresh run would take it, the
    // resumed one must not.
    const bool plan_has_direct = plan.find("f32:direct") != std::string::npos || plan.find("fixed rules") != std::string::npos;
    const std::string winner = plan_has_direct ? "f32:winograd/direct/winograd" : "f32:direct";
    const std::string file = TuneCache(cache).path();
    auto poison = [&] {
        std::istringstream in(slurp(file));
        std::string line, rewritten;
        std::getline(in, line);
        rewritten = line + "\n";
        while (std::getline(in, line)) {
            const bool wins = line.find(": " + winner + "\"") != std::string::npos || line.find("plan tuned") != std::string::npos;
            rewritten += line.substr(0, line.rfind("\"ms\":")) + (wins ? "\"ms\":0.001}" : "\"ms\":1000}") + "\n";
        }
        std::ofstream(file, std::ios::trunc) << rewritten;
    };
    poison();
    c.epochs = 1;
    // The new plan's whole-net check is not in the cache yet: this run times it for real (under
    // the sanitizers it missed the 2% margin 1 time in 8) and records it; poisoned again, the
    // next run reads it.
    c.out = (dir.path() / "warm-up").string();
    train(c, false);
    poison();
    c.out = (dir.path() / "fresh").string();
    train(c, false);
    CHECK(slurp(dir.path() / "fresh" / "conv_plan.txt") != plan);  // the poisoned cache works

    c.epochs = 2;
    c.out = (dir.path() / "stopped").string();
    const TrainResult rest = train(c, true);
    CHECK(slurp(dir.path() / "stopped" / "conv_plan.txt") == plan);
    CHECK(rest.conv_plan == straight.conv_plan);
    CHECK(*rest.test_loss == *straight.test_loss);
    CHECK(slurp(dir.path() / "stopped" / "result.csv").find(straight.conv_plan) != std::string::npos);
}

TEST_CASE("a bf16 net with convs kept in fp32 needs no more memory than the net in fp32", "[tune][memory]") {
    if (!cpu_has_bf16()) {
        WARN("no bf16 instructions: nothing to check");
        return;
    }
    // Every other conv in fp32: each reads an fp32 copy of a bf16 activation, and that copy
    // alone is what its backward pass needs.
    nets::Builder b("mixed", {16, 16, 16});
    int x = b.input();
    ConvPlan mixed, fp32;
    for (int i = 0; i < 6; ++i) {
        const std::string name = fmt::format("c{}", i);
        x = b.relu(b.batchnorm(b.conv(x, 32, 3, 1, 1, false, name), name + ".bn"), name + ".relu");
        mixed[name] = *parse_conv_form(i % 2 ? "f32:direct" : "bf16:direct");
        fp32[name] = *parse_conv_form("f32:direct");
    }
    b.mark_output(b.linear(b.flatten(b.global_avg_pool(x)), 10, true, "fc"));
    const nets::Graph g = b.finish();
    auto arena = [&](Precision p, const ConvPlan& plan) {
        EngineOptions o;
        o.batch = 16;
        o.threads = 2;
        o.precision = p;
        o.conv_plan = plan;
        Engine e(g, o);
        return e.train_net().arena_bytes();
    };
    const std::size_t mixed_bytes = arena(Precision::bf16, mixed), fp32_bytes = arena(Precision::f32, fp32);
    INFO("arena: mixed bf16 " << mixed_bytes << " bytes, fp32 " << fp32_bytes);
    CHECK(mixed_bytes <= fp32_bytes);
}
