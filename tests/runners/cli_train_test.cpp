// End-to-end runs of `deeper train`.
#include <catch2/catch.hpp>

#include <filesystem>

#include "support.hpp"

using deeper::test::run_cli;
using deeper::test::TempDir;

TEST_CASE("deeper train runs on synthetic data and writes its run folder", "[cli]") {
    TempDir dir("cli-train");
    const auto spec = dir.write("net.yaml", "type: plain\nlayers: [8, M]\nclassifier: []\n");
    const auto out = (dir.path() / "run").string();
    auto r = run_cli("train --spec " + spec + " --data synthetic:400 --val-size 100 --epochs 2 "
                     "--batch 20 --threads 1 --out " + out);
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("epoch   1") && Catch::Contains("epoch   2") && Catch::Contains("test: loss"));
    for (const char* f : {"metrics.csv", "checkpoint.safetensors", "config.yaml", "result.csv"})
        CHECK(std::filesystem::exists(dir.path() / "run" / f));
    // The saved config replays the run.
    auto again = run_cli("train --config " + out + "/config.yaml --out " + out + "2");
    CHECK(again.exit_code == 0);
}

TEST_CASE("deeper train errors exit 2 and say what is wrong", "[cli]") {
    TempDir dir("cli-train-errors");
    auto r = run_cli("train resnet20 --data imagenet");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("unknown data 'imagenet'"));
    auto s = run_cli("train resnet20 --schedule linear --data synthetic:300 --val-size 50");
    CHECK(s.exit_code == 2);
    CHECK_THAT(s.out, Catch::Contains("unknown schedule 'linear'"));
    const auto cfg = dir.write("bad.yaml", "net: resnet20\nepochs: 2\nlearning_rate: 0.1\n");
    auto y = run_cli("train --config " + cfg);
    CHECK(y.exit_code == 2);
    CHECK_THAT(y.out, Catch::Contains("bad.yaml:3:1: unknown option 'learning_rate'"));
    auto n = run_cli("train");
    CHECK(n.exit_code == 2);
}
