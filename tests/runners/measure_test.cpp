// A stage's `measure`: latency and throughput timed for every trial before it trains, kept in
// its results, and plotted against its accuracy with each group's front.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>

#include "runners/experiment/journal.hpp"
#include "support.hpp"

using deeper::test::run_cli;
using deeper::test::slurp;
using deeper::test::TempDir;
namespace fs = std::filesystem;

TEST_CASE("a stage that measures latency and throughput: timed before training, in results.csv, plotted with fronts",
          "[experiment][cli][latency]") {
    TempDir dir("measure");
    const auto exp = dir.write(
        "m.yaml", "name: m\ndefaults: {data: 'synthetic:200', val_size: 50, train_eval_size: 50, epochs: 1, batch: 25}\n"
                  "stages:\n  - name: zoo\n    grid: {net: [resnet8, resnet14]}\n    seeds: [0, 1]\n"
                  "    measure: [latency_ms, throughput]\n"
                  "report:\n  plots:\n    - {kind: scatter, x: latency_ms, metric: val_top1, group: stage, front: true}\n");
    const fs::path out = dir.path() / "out";
    const auto r = run_cli(fmt::format("run {} --out {} --jobs 1", exp, out.string()),
                           "DEEPER_TUNE_CACHE=" + (dir.path() / "cache").string());
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    int done = 0;
    for (const auto& t : deeper::runners::read_journals(out.string())) {
        if (t.status != "done") continue;
        ++done;
        CHECK(t.result.at("latency_ms") > 0);
        CHECK(t.result.at("latency_p25_ms") <= t.result.at("latency_ms"));
        CHECK(t.result.at("throughput") > 0);
        CHECK(t.result.at("throughput_batch") == 25);
    }
    CHECK(done == 4);
    // one net's two seeds: timed once, the second read back from the cache
    const auto records = deeper::runners::read_journals(out.string());
    std::map<std::string, std::vector<double>> latency;
    for (const auto& t : records) latency[t.settings.at("net")].push_back(t.result.at("latency_ms"));
    for (const auto& [net, values] : latency) {
        INFO(net);
        REQUIRE(values.size() == 2);
        CHECK(values[0] == values[1]);
    }
    CHECK(slurp(out / "results.csv").find(",latency_ms,latency_p25_ms,latency_p75_ms,throughput,throughput_batch") !=
          std::string::npos);
    const std::string summary = slurp(out / "summary.md");  // what timing cost, by stage
    CHECK(summary.find("latency_ms, stage 'zoo': 2 net(s) timed before training") != std::string::npos);
    CHECK(summary.find("throughput, stage 'zoo': 2 net(s) timed before training") != std::string::npos);
    const std::string svg = slurp(out / "plot1-all-val_top1.svg");
    CHECK(svg.find("latency_ms (log scale)") != std::string::npos);
    CHECK(svg.find("<polyline") != std::string::npos);  // the front
}
