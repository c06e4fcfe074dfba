// Hostile values through every CLI verb: sizes that cannot fit, counts that would hang or
// explode, paths that escape or cannot be written. Each gets exit 2 and a message naming the
// value, before any work; never "internal error", a crash or a hang.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "support.hpp"

using deeper::test::run_cli;
using deeper::test::TempDir;
namespace fs = std::filesystem;

namespace {

const char* kTrain = "train --data synthetic:300 --val-size 50 --epochs 1 --batch 50";

std::string tiny_experiment(const std::string& name, const std::string& grid) {
    return "name: " + name +
           "\ndefaults: {net: resnet8, data: 'synthetic:300', val_size: 50, train_eval_size: 50, epochs: 1,"
           " batch: 50, threads: 1}\nstages:\n  - name: s\n    grid: {" + grid + "}\n";
}

}  // namespace

TEST_CASE("bad values exit 2 with a message naming them, before any work", "[cli][hostile]") {
    TempDir dir("hostile");
    const auto plain_file = dir.write("a-file", "not a folder");
    const auto exp = dir.write("exp.yaml", tiny_experiment("hostile", "lr: [0.1]"));
    std::string bomb_grid;
    for (const char* k : {"lr", "momentum", "weight_decay", "label_smoothing"})
        bomb_grid += std::string(bomb_grid.empty() ? "" : ", ") + k + ": [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]";
    for (const char* k : {"epochs", "seed", "val_size", "train_eval_size", "batch"})
        bomb_grid += std::string(", ") + k + ": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]";
    const auto bomb = dir.write("bomb.yaml", tiny_experiment("bomb", bomb_grid));
    const auto escape = dir.write("escape.yaml", tiny_experiment("../../escape", "lr: [0.1]"));
    fs::create_directories(dir.path() / "foreign");
    dir.write("foreign/notes.txt", "someone else's");
    dir.write("foreign/experiment.yaml.bak", "not deeper's temporary");
    struct Case {
        std::string args, message;
    };
    const Case cases[] = {
        // memory: refused from the graph, before compiling or allocating
        {std::string(kTrain) + " resnet100004", "training resnet100004 at batch 50 needs at least"},
        {std::string(kTrain) + " resnet20 --resolution 3000", "needs at least"},
        {"bench resnet20 --resolution 16384 --batch 8 --steps 1 --warmup 0", "needs at least"},
        {"run " + dir.write("big.yaml", tiny_experiment("big", "resolution: [4000]")), "s', trial resolution=4000"},
        // knobs and options out of range
        {"count resnet20 --width 1e9", "knob 'width': 1000000000 is out of range (at most 100)"},
        {std::string(kTrain) + " resnet8 --momentum 5", "option 'momentum': expected a number in [0, 1), got '5'"},
        {std::string(kTrain) + " resnet8 --label-smoothing 2", "option 'label_smoothing': expected a number in [0, 1)"},
        {std::string(kTrain) + " resnet8 --threads -3", "-3"},
        // a grid of 10^9 points is counted, not expanded
        {"check " + bomb, "bomb.yaml:4:5: stage 's' has 1000000000 trials (10 lr x 10 momentum"},
        // output folders
        {std::string(kTrain) + " resnet8 --out " + plain_file, "--out " + plain_file + ": exists and is not a folder"},
        {std::string(kTrain) + " resnet8 --out " + plain_file + "/sub", "cannot create the folder"},
        {"run " + exp + " --out " + plain_file, "exists and is not a folder"},
        {"run " + exp + " --out " + (dir.path() / "foreign").string(), "holds other files and none of deeper's"},
        {"check " + escape, "escape.yaml:1:7: name '../../escape': expected a plain folder name"},
        {"submit " + exp + " --dry-run --out " + plain_file, "exists and is not a folder"},
        // verbs that read a results folder, given something else
        {"status " + (dir.path() / "foreign").string(), "not a results folder"},
        {"report " + (dir.path() / "foreign").string(), "not a results folder"},
        {"dump resnet8 --out " + plain_file + "/x.safetensors", "is not a folder"},
        {"dump resnet8 --threads -2 --out " + (dir.path() / "d.safetensors").string(), "--threads -2"},
    };
    for (const auto& c : cases) {
        const auto r = run_cli(c.args);
        INFO(c.args << "\n" << r.out);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.out, Catch::Contains(c.message));
        CHECK_THAT(r.out, !Catch::Contains("internal error"));
    }
    int foreign_files = 0;  // nothing was written into someone else's folder
    for ([[maybe_unused]] const auto& f : fs::directory_iterator(dir.path() / "foreign")) ++foreign_files;
    CHECK(foreign_files == 2);
}

TEST_CASE("a results folder where another shard is writing its experiment copy is deeper's own", "[cli][hostile]") {
    TempDir dir("hostile-shard-start");
    const auto exp = dir.write("exp.yaml", tiny_experiment("start", "lr: [0.1]"));
    fs::create_directories(dir.path() / "out");
    dir.write("out/experiment.yaml.tmp.4242.0", "half-written by a task that started first");
    const auto r = run_cli("run " + exp + " --out " + (dir.path() / "out").string());
    INFO(r.out);
    CHECK(r.exit_code == 0);
}

TEST_CASE("thread counts beyond the cores are clamped with a warning, not a crash or a hang", "[cli][hostile]") {
    TempDir dir("hostile-threads");
    const auto t = run_cli(std::string(kTrain) + " resnet8 --threads 100000");
    INFO(t.out);
    CHECK(t.exit_code == 0);
    CHECK_THAT(t.out, Catch::Contains("threads 100000 is more than the") && Catch::Contains("core(s)"));
    const auto b = run_cli("bench resnet8 --batch 8 --steps 1 --warmup 0 --threads 1000");
    INFO(b.out);
    CHECK(b.exit_code == 0);
    CHECK_THAT(b.out, Catch::Contains("--threads 1000 is more than the"));
    const auto r = run_cli("run " + dir.write("exp.yaml", tiny_experiment("threads", "lr: [0.1]")) + " --out " +
                           (dir.path() / "out").string() + " --jobs 500 --threads-per-trial 4000");
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("--jobs 500 is more than the") &&
                          Catch::Contains("--threads-per-trial 4000 is more than the"));
}

TEST_CASE("a loss that explodes by orders of magnitude fails the run as diverged", "[cli][hostile]") {
    const auto r = run_cli("train resnet8 --data synthetic:2000 --val-size 100 --epochs 2 --batch 50 --threads 1 --lr 1000");
    INFO(r.out);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Catch::Contains("diverged at epoch 1 step") && Catch::Contains("chance level is 2.3"));
}

TEST_CASE("a checkpoint header nested 100,000 deep is refused, not a stack overflow", "[cli][hostile]") {
    TempDir dir("hostile-nesting");
    const std::string header = std::string(100000, '[') + std::string(100000, ']');
    std::string file(8, '\0');
    for (int i = 0; i < 8; ++i) file[i] = char((header.size() >> (8 * i)) & 0xff);
    const auto ckpt = dir.write("deep.safetensors", file + header);
    const auto r = run_cli(std::string(kTrain) + " resnet8 --init " + ckpt);
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains(ckpt) && Catch::Contains("not a JSON object"));
}
