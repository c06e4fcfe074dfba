// The trainer on real data: learning happens, resume is exact, freezing and init do what they
// say, divergence stops with what was measured kept.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "nets/error.hpp"
#include "runners/data/dataset.hpp"
#include "runners/engine/engine.hpp"
#include "runners/train/safetensors.hpp"
#include "runners/train/trainer.hpp"
#include "support.hpp"

using namespace deeper::runners;
using deeper::test::TempDir;
using deeper::test::slurp;

namespace {

// metrics.csv without the timing columns (epoch_s, img_per_s)
std::string metrics_without_time(const std::filesystem::path& p) {
    std::istringstream in(slurp(p));
    std::string line, out;
    while (std::getline(in, line)) {
        for (int k = 0; k < 2; ++k) line = line.substr(0, line.rfind(','));
        out += line + "\n";
    }
    return out;
}

TrainConfig small_cnn(const std::string& spec, const std::string& out) {
    TrainConfig c;
    c.spec = spec;
    c.data = std::filesystem::exists(data::kFashionMnistDir) ? "fashion-mnist" : "synthetic:3000";
    c.train_limit = 1000;
    c.val_size = 2000;
    c.train_eval_size = 1000;
    c.augment = false;
    c.batch = 50;
    c.epochs = 15;
    c.lr = 0.05;
    c.schedule = "cosine";
    c.weight_decay = 5e-4;
    c.threads = 2;
    c.seed = 3;
    c.out = out;
    return c;
}

// A one-conv net on generated data: for the tests that need a run, not learning.
TrainConfig tiny_synthetic(const std::string& spec, const std::string& out, int images) {
    TrainConfig c = small_cnn(spec, out);
    c.data = "synthetic:" + std::to_string(images);
    c.val_size = images / 10;
    c.train_limit = 0;
    return c;
}

const char* kSpec =
    "name: small-cnn\ntype: plain\nlayers: [16, M, 32, M]\nbatchnorm: true\nclassifier: [64]\n";

}  // namespace

TEST_CASE("a small CNN fits 1,000 real Fashion-MNIST images and generalizes", "[train][slow]") {
    TempDir dir("fit");
    const auto spec = dir.write("net.yaml", kSpec);
    const TrainResult r = train(small_cnn(spec, (dir.path() / "run").string()), false);
    REQUIRE(r.epochs.size() == 15);
    INFO("train-eval top1 " << r.epochs.back().train_eval_top1 << ", val top1 " << r.epochs.back().val_top1
                            << ", test top1 " << *r.test_top1);
    CHECK(r.epochs.back().train_eval_top1 > 0.95);  // eval mode, on the training images
    CHECK(r.epochs.back().val_top1 > 0.70);         // held out; chance is 0.10
    CHECK(*r.test_top1 > 0.70);
    CHECK(r.epochs.back().train_loss < r.epochs.front().train_loss);
    for (const char* f : {"metrics.csv", "checkpoint.safetensors", "config.yaml", "result.csv"})
        CHECK(std::filesystem::exists(dir.path() / "run" / f));
}

TEST_CASE("a stopped run resumes to the same metrics as an uninterrupted one", "[train][slow]") {
    TempDir dir("resume");
    const auto spec = dir.write("net.yaml", kSpec);
    TrainConfig c = small_cnn(spec, (dir.path() / "straight").string());
    c.epochs = 3;
    c.augment = true;  // exercise augmentation replay too
    const TrainResult straight = train(c, false);

    c.out = (dir.path() / "stopped").string();
    std::atomic<bool> stop{false};
    TrainHooks hooks;
    hooks.stop = &stop;
    int steps = 0;
    hooks.on_step = [&](const Progress&) {
        if (++steps == 27) stop = true;  // mid-epoch 2 (20 steps per epoch)
    };
    const TrainResult first = train(c, false, hooks);
    CHECK(first.interrupted);
    CHECK(first.epochs.size() == 1);
    const TrainResult rest = train(c, true);
    CHECK_FALSE(rest.interrupted);
    CHECK(metrics_without_time(dir.path() / "straight" / "metrics.csv") ==
          metrics_without_time(dir.path() / "stopped" / "metrics.csv"));
    CHECK(*rest.test_loss == *straight.test_loss);
    CHECK(*rest.test_top1 == *straight.test_top1);

    TrainConfig other = c;
    other.lr = 0.2;
    CHECK_THROWS_WITH(train(other, true), Catch::Contains("made with another config"));
}

TEST_CASE("a checkpoint from before an option existed still resumes (the option at its default)", "[train]") {
    TempDir dir("resume-old");
    const auto spec = dir.write("net.yaml", kSpec);
    TrainConfig c = small_cnn(spec, (dir.path() / "run").string());
    c.epochs = 2;
    c.train_limit = 200;
    std::atomic<bool> stop{false};
    TrainHooks hooks;
    hooks.stop = &stop;
    hooks.on_step = [&](const Progress&) { stop = true; };
    REQUIRE(train(c, false, hooks).interrupted);
    // As an older deeper wrote it: no train_fraction line in the recorded identity.
    const auto ckpt = (dir.path() / "run" / "checkpoint.safetensors").string();
    auto t = read_safetensors(ckpt);
    std::string& identity = t.metadata.at("identity");
    const auto line = identity.find("train_fraction: 1\n");
    REQUIRE(line != std::string::npos);
    identity.erase(line, std::string("train_fraction: 1\n").size());
    write_safetensors(ckpt, t);
    const TrainResult rest = train(c, true);
    CHECK_FALSE(rest.interrupted);
    CHECK(rest.epochs.size() == 2);
}

// A process killed (SIGKILL, a node lost) while it records an epoch: the record (the journal's
// epoch event, via on_epoch) comes before the checkpoint that moves past the epoch, so a resume
// trains the epoch again and records it, instead of starting after an epoch nobody recorded.
TEST_CASE("a run that dies while recording an epoch trains it again on resume: no epoch goes unrecorded", "[train]") {
    TempDir dir("die-recording");
    const auto spec = dir.write("net.yaml", "type: plain\nlayers: [8, M]\nclassifier: []\n");
    TrainConfig c = tiny_synthetic(spec, (dir.path() / "straight").string(), 600);
    c.epochs = 3;
    const TrainResult straight = train(c, false);

    c.out = (dir.path() / "died").string();
    struct Killed {};
    TrainHooks dying;
    dying.on_epoch = [](const EpochMetrics& m) {
        if (m.epoch == 2) throw Killed{};  // the process ends here, before the epoch's record is written
    };
    CHECK_THROWS_AS(train(c, false, dying), Killed);

    std::vector<int> recorded;
    TrainHooks resumed;
    resumed.on_epoch = [&](const EpochMetrics& m) { recorded.push_back(m.epoch); };
    const TrainResult rest = train(c, true, resumed);
    CHECK(recorded == std::vector<int>{2, 3});
    CHECK(metrics_without_time(dir.path() / "straight" / "metrics.csv") ==
          metrics_without_time(dir.path() / "died" / "metrics.csv"));
    CHECK(*rest.test_loss == *straight.test_loss);
}
TEST_CASE("transfer: --init loads matching tensors, --freeze encoder trains only the head", "[train][slow]") {
    TempDir dir("transfer");
    const auto spec = dir.write("net.yaml", kSpec);
    TrainConfig a = small_cnn(spec, (dir.path() / "a").string());
    a.epochs = 1;
    train(a, false);
    const auto base = read_safetensors((dir.path() / "a" / "checkpoint.safetensors").string());

    TrainConfig b = small_cnn(spec, (dir.path() / "b").string());
    b.epochs = 1;
    b.init = (dir.path() / "a" / "checkpoint.safetensors").string();
    b.freeze = {"encoder"};
    b.knobs.classes = 12;  // another head: re-initialized and reported
    b.data = "synthetic:600";
    b.val_size = 100;
    std::vector<std::string> notes;
    TrainHooks hooks;
    hooks.on_note = [&](const std::string& m) {
        if (m.rfind("tuned ", 0) != 0) notes.push_back(m);  // the tuner's, when the cache lacks a time
    };
    train(b, false, hooks);
    REQUIRE(notes.size() == 2);  // what compiles, then the init report
    CHECK_THAT(notes[0], Catch::StartsWith("compiling "));
    CHECK_THAT(notes[1], Catch::Contains("skipped 2:") && Catch::Contains("head.fc2.weight (shape 10x64") &&
                             Catch::Contains("head.fc2.bias"));
    const auto tuned = read_safetensors((dir.path() / "b" / "checkpoint.safetensors").string());
    // Frozen encoder: bit-identical weights; the head moved.
    CHECK(tuned.tensors.at("stage1.conv1.weight").data == base.tensors.at("stage1.conv1.weight").data);
    CHECK(tuned.tensors.at("stage2.bn1.weight").data == base.tensors.at("stage2.bn1.weight").data);
    CHECK(tuned.tensors.at("head.fc1.weight").data != base.tensors.at("head.fc1.weight").data);
    CHECK(tuned.tensors.at("head.fc2.weight").shape == std::vector<std::int64_t>{12, 64});

    TrainConfig bad = b;
    bad.freeze = {"stage9"};
    CHECK_THROWS_WITH(train(bad, false), Catch::Contains("--freeze stage9: no node"));

    // A new classifier of the same shape: --init-skip head leaves it fresh, loads the rest.
    TrainConfig c = b;
    c.out = (dir.path() / "c").string();
    c.knobs.classes = 10;
    c.init_skip = {"head"};
    notes.clear();
    train(c, false, hooks);
    REQUIRE(notes.size() == 2);
    CHECK_THAT(notes[1], Catch::Contains("skipped 4:") &&
                             Catch::Contains("head.fc2.weight (--init-skip: freshly initialized)"));
    bad = c;
    bad.init_skip = {"stem9"};
    CHECK_THROWS_WITH(train(bad, false), Catch::Contains("--init-skip stem9: no node"));
}

TEST_CASE("a diverging run stops with the epoch and step, keeping earlier metrics", "[train]") {
    TempDir dir("diverge");
    const auto spec = dir.write("net.yaml", "type: plain\nlayers: [8, M]\nclassifier: []\n");
    TrainConfig c = tiny_synthetic(spec, (dir.path() / "run").string(), 1000);
    c.epochs = 3;
    c.lr = 0.01;
    c.schedule = "exponential";
    c.lr_decay = 1e12;  // epoch 2 explodes
    c.weight_decay = 0;
    try {
        train(c, false);
        FAIL("did not diverge");
    } catch (const deeper::RunError& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("diverged at epoch 2 step "));
    }
    const std::string m = slurp(dir.path() / "run" / "metrics.csv");
    CHECK(std::count(m.begin(), m.end(), '\n') == 2);  // header + epoch 1
}

TEST_CASE("a bf16 run resumes exactly, from another folder, and can continue in fp32", "[train][slow]") {
    if (!cpu_has_bf16()) {
        WARN("skipped: this CPU (" << cpu_isa_name() << ") has no bf16 instructions");
        return;
    }
    TempDir dir("resume-bf16");
    const auto spec = dir.write("net.yaml", kSpec);
    TrainConfig c = small_cnn(spec, (dir.path() / "straight").string());
    c.epochs = 3;
    c.precision = "bf16";
    const TrainResult straight = train(c, false);
    CHECK(straight.precision == "bf16");
    CHECK(*straight.test_top1 > 0.6);

    auto stopped_run = [&](const std::string& name) {
        c.out = (dir.path() / name).string();
        std::atomic<bool> stop{false};
        TrainHooks hooks;
        hooks.stop = &stop;
        int steps = 0;
        hooks.on_step = [&](const Progress&) {
            if (++steps == 27) stop = true;  // mid-epoch 2
        };
        CHECK(train(c, false, hooks).interrupted);
    };
    // bf16 again, from the folder moved elsewhere: the checkpoint keeps fp32 master weights
    // and the optimizer state, so the rest is bit for bit the uninterrupted run
    stopped_run("stopped");
    std::filesystem::rename(dir.path() / "stopped", dir.path() / "moved");
    c.out = (dir.path() / "moved").string();
    const TrainResult rest = train(c, true);
    CHECK(metrics_without_time(dir.path() / "straight" / "metrics.csv") ==
          metrics_without_time(dir.path() / "moved" / "metrics.csv"));
    CHECK(*rest.test_loss == *straight.test_loss);

    // ... or in fp32
    stopped_run("to-f32");
    c.precision = "f32";
    const TrainResult in_f32 = train(c, true);
    CHECK_FALSE(in_f32.interrupted);
    CHECK(in_f32.precision == "f32");
    CHECK(in_f32.epochs.size() == 2);  // epochs 2 and 3, after the checkpoint's epoch 1
    CHECK(std::abs(*in_f32.test_top1 - *straight.test_top1) < 0.05);
    CHECK_THAT(slurp(dir.path() / "to-f32" / "result.csv"), Catch::Contains(",f32,"));
}

TEST_CASE("bad numbers in data specs and checkpoint metadata are input errors naming them", "[train]") {
    for (const char* spec : {"synthetic:-5", "synthetic:0", "synthetic:abc", "synthetic:99999999999"})
        CHECK_THROWS_WITH(data::load(spec), Catch::Contains(std::string("data '") + spec + "'"));

    TempDir dir("bad-checkpoint");
    const auto spec = dir.write("net.yaml", "type: plain\nlayers: [8, M]\nclassifier: []\n");
    TrainConfig c = tiny_synthetic(spec, (dir.path() / "run").string(), 300);
    c.epochs = 1;
    train(c, false);
    const std::string ckpt = (dir.path() / "run" / "checkpoint.safetensors").string();
    SafeTensors t = read_safetensors(ckpt);
    t.metadata["epoch"] = "abc";
    write_safetensors(ckpt, t);
    CHECK_THROWS_AS(train(c, true), deeper::InputError);
    CHECK_THROWS_WITH(train(c, true), Catch::Contains("metadata epoch is 'abc', not a whole number"));
}
