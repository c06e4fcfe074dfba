// What `deeper run` and `deeper train` refuse before any work, and one writer per output:
// invalid trials found before the first trial starts, a second process on the same output
// refused, a finished run not overwritten, dead trials told from running ones.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "support.hpp"

using deeper::test::run_cli;
using deeper::test::slurp;
using deeper::test::TempDir;
namespace fs = std::filesystem;

namespace {

const char* kNet = "type: plain\nlayers: [8, M, 16, M]\nclassifier: []\n";

std::string experiment(const std::string& spec, const std::string& stage, int epochs = 1) {
    return "name: guard\nseed: 5\ndefaults:\n  spec: " + spec +
           "\n  data: synthetic:600\n  val_size: 100\n  train_eval_size: 100\n  epochs: " + std::to_string(epochs) +
           "\n  batch: 50\n  augment: false\nstages:\n" + stage;
}

// Shell text: wait until FILE exists (at most 30 s).
std::string wait_for(const fs::path& file) {
    return "for i in $(seq 300); do [ -e " + file.string() + " ] && break; sleep 0.1; done; ";
}

}  // namespace

TEST_CASE("run checks every trial before the first starts: nets, data, empty stages", "[cli][guard]") {
    TempDir dir("guard-validate");
    const auto spec = dir.write("net.yaml", kNet);
    const std::string out = (dir.path() / "out").string();
    struct Case {
        std::string stage, message;
    };
    const Case cases[] = {
        {"  - name: nets\n    grid:\n      net: [resnet8, vgg-f]\n      spec: ['']\n", "unknown net 'vgg-f'"},
        {"  - name: depth\n    grid:\n      net: [resnet21]\n      spec: ['']\n", "resnet21"},
        {"  - name: data\n    grid:\n      data: ['mnist:/nonexistent']\n", "/nonexistent"},
        {"  - name: none\n    settings: {net: efficientnet, spec: ''}\n    compound_search:\n"
         "      alpha: {min: 1.0, max: 1.2, step: 0.1}\n      beta: {min: 1.0, max: 1.1, step: 0.1}\n"
         "      gamma: {min: 1.0, max: 1.1, step: 0.1}\n      target: 5.0\n      tolerance: 0.01\n",
         "has no trials: no (alpha, beta, gamma)"},
        // early stopping's rungs must end where the trials do
        {"  - name: long\n    grid: {lr: [0.1, 0.2]}\n    early_stop: {min_epochs: 1, max_epochs: 100}\n",
         "trains 1 epochs, but early stopping's last rung is at 100 (early_stop.max_epochs)"},
        {"  - name: mixed\n    grid: {lr: [0.1], epochs: [2, 4]}\n    early_stop: {min_epochs: 1}\n",
         "trains 4 epochs, but early stopping's last rung is at 2"},
        // one configuration twice: a list repeating an item; a random space smaller than count
        {"  - name: twice\n    list: [{lr: 0.1}, {lr: 0.1}]\n", "trials 1 and 2 are the same configuration"},
        {"  - name: small\n    random:\n      count: 5\n      space: {lr: {choice: [0.1, 0.2]}}\n",
         "random: 2 distinct configurations found"},
    };
    for (const auto& c : cases) {
        const auto path = dir.write("exp.yaml", experiment(spec, c.stage));
        auto r = run_cli("run " + path + " --out " + out);
        INFO(c.stage << r.out);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.out, Catch::Contains("exp.yaml:12: stage") && Catch::Contains(c.message));
        CHECK_FALSE(fs::exists(out));  // nothing ran, nothing was written
    }
}

TEST_CASE("status counts an edited experiment's trials by id, and names what the journal has besides",
          "[cli][guard]") {
    TempDir dir("guard-status-edit");
    const auto spec = dir.write("net.yaml", kNet);
    const std::string out = (dir.path() / "out").string();
    const auto first = dir.write("exp.yaml", experiment(spec, "  - name: s\n    grid: {lr: [0.1, 0.2]}\n"));
    auto r = run_cli("run " + first + " --out " + out + " --jobs 1 --threads-per-trial 1");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    // the copy kept beside the results now plans two other trials
    dir.write("out/experiment.yaml", experiment(spec, "  - name: s\n    grid: {lr: [0.3, 0.4]}\n"));
    r = run_cli("status " + out);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("s           2     0        0        0       0       0            0           0        2"));
    CHECK_THAT(r.out, Catch::Contains("stage s: 2 trial(s) in the journal are no longer in"));
}

TEST_CASE("a second writer on the same output is refused while the first runs", "[cli][guard][slow]") {
    TempDir dir("guard-lock");
    const auto spec = dir.write("net.yaml", kNet);
    const fs::path run = dir.path() / "run";
    const std::string train = "train --spec " + spec + " --data synthetic:2000 --val-size 100 --batch 20 --threads 1";
    auto t = run_cli(train + " --epochs 1000 --out " + run.string() + " >/dev/null 2>&1 & pid=$!; " + wait_for(run / ".lock") +
                     "sleep 0.5; " + DEEPER_BINARY + " " + train + " --epochs 1 --force --out " + run.string() +
                     " 2>&1; s=$?; kill $pid; wait $pid; exit $s");
    INFO(t.out);
    CHECK(t.exit_code == 2);
    CHECK_THAT(t.out, Catch::Contains("run folder " + run.string() + " is being written by deeper pid"));

    const auto exp = dir.write("exp.yaml", experiment(spec, "  - name: s\n    grid:\n      lr: [0.1]\n", 1000));
    const fs::path out = dir.path() / "out";
    auto r = run_cli("run " + exp + " --out " + out.string() + " >/dev/null 2>&1 & pid=$!; " +
                     wait_for(out / "journal" / "local.lock") + "sleep 0.5; " + DEEPER_BINARY + " run " + exp +
                     " --out " + out.string() + " 2>&1; s=$?; kill $pid; wait $pid; exit $s");
    INFO(r.out);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("results folder " + out.string() + " (shard 'local') is being written by"));
}

TEST_CASE("train refuses to overwrite a run without --resume or --force", "[cli][guard]") {
    TempDir dir("guard-overwrite");
    const auto spec = dir.write("net.yaml", kNet);
    const std::string cmd = "train --spec " + spec + " --data synthetic:300 --val-size 50 --epochs 1 --batch 50 "
                            "--threads 1 --out " + (dir.path() / "run").string();
    REQUIRE(run_cli(cmd).exit_code == 0);
    auto again = run_cli(cmd);
    CHECK(again.exit_code == 2);
    CHECK_THAT(again.out, Catch::Contains("already holds a run") && Catch::Contains("--force"));
    CHECK(run_cli(cmd + " --force").exit_code == 0);
    // A copy of the config resumes the folder it sits in, not the one it was made in.
    fs::copy(dir.path() / "run", dir.path() / "copy", fs::copy_options::recursive);
    auto resumed = run_cli("train --config " + (dir.path() / "copy" / "config.yaml").string() + " --resume");
    INFO(resumed.out);
    CHECK(resumed.exit_code == 0);
    CHECK(fs::exists(dir.path() / "copy" / "result.csv"));
}

TEST_CASE("status tells a trial whose process was killed from a running one", "[cli][guard][slow]") {
    TempDir dir("guard-status");
    const auto spec = dir.write("net.yaml", kNet);
    const auto exp = dir.write("exp.yaml", experiment(spec, "  - name: s\n    grid:\n      lr: [0.1]\n", 100000));
    const fs::path out = dir.path() / "out";
    auto live = run_cli("run " + exp + " --out " + out.string() + " >/dev/null 2>&1 & pid=$!; " +
                        wait_for(out / "journal" / "local.jsonl") + "sleep 1; " + DEEPER_BINARY + " status " +
                        out.string() + " 2>&1; kill -9 $pid; wait $pid; " + DEEPER_BINARY + " status " + out.string());
    INFO(live.out);
    // first while it runs, then after kill -9: the same trial, running then interrupted
    // stage, trials, done, stopped, running, paused, failed, interrupted, infeasible, pending
    CHECK_THAT(live.out, Catch::Matches(R"((.|\n)*\ns +1 +0 +0 +1 +0 +0 +0 +0 +0\n(.|\n)*\ns +1 +0 +0 +0 +0 +0 +1 +0 +0\n(.|\n)*)"));
}
