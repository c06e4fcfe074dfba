// Retraining what a search found: the ranking that picks the found nets (one objective, several,
// pooled or per search), the trials a retrain stage expands to (the net from the search, the
// recipe from the stage), and a table search retrained end to end through the CLI.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "runners/experiment/search_traces.hpp"
#include "search/experiment.hpp"
#include "search/expand.hpp"
#include "support.hpp"

using deeper::test::run_cli;
using deeper::test::slurp;
using deeper::test::TempDir;
using namespace deeper;
namespace fs = std::filesystem;

namespace {

const char* kSearchExperiment = R"(name: r
seed: 1
defaults: {net: resnet8, data: synthetic, epochs: 5}
stages:
  - name: find
    settings: {epochs: 2, train_limit: 100}
    search:
      space:
        lr: {choice: [0.1, 0.2, 0.3]}
        width: {choice: [0.5, 1]}
      objectives: [val_top1, macs]
      budget: 4
      repeats: 2
  - name: again
    retrain: {from: find, top: 2, each_search: true}
    settings: {batch: 32}
    seeds: [0, 1]
)";

// A search's evaluated point: its search and proposal number, status and objectives.
runners::TrialRecord point(const std::string& id, int search, int seq, const std::string& status, double val_top1,
                           double macs) {
    runners::TrialRecord r;
    r.id = id;
    r.stage = "find";
    r.status = status;
    r.labels = {{"search", std::to_string(search)}, {"seq", std::to_string(seq)}};
    r.settings = {{"net", "resnet8"}, {"lr", "0.1"}, {"width", std::to_string(1 + id[0] - 'a')}, {"epochs", "2"},
                  {"train_limit", "100"}};  // one configuration per id
    r.result = {{"val_top1", val_top1}, {"macs", macs}};
    return r;
}

std::vector<std::string> ids(const std::vector<search::FoundNet>& found) {
    std::vector<std::string> out;
    for (const auto& f : found) out.push_back(f.id);
    return out;
}

}  // namespace

TEST_CASE("found nets: best first by the objective, pooled or per search; stopped and failed ones never",
          "[search][retrain]") {
    search::Experiment e = search::parse_experiment(kSearchExperiment, "r.yaml");
    search::Stage& find = e.stages[0];
    find.search.objectives = {{"val_top1", false}};
    const std::vector<runners::TrialRecord> records = {
        point("a", 0, 0, "done", 0.70, 10), point("b", 0, 1, "done", 0.90, 10),  point("c", 0, 2, "stopped", 0.99, 10),
        point("d", 1, 0, "done", 0.80, 10), point("e", 1, 1, "failed", 0.95, 10), point("f", 1, 2, "done", 0.85, 10),
        point("g", 1, 3, "infeasible", 0.99, 10)};
    CHECK(ids(runners::found_nets(records, find, {"find", 2, false})) == std::vector<std::string>{"b", "f"});
    const auto each = runners::found_nets(records, find, {"find", 2, true});
    CHECK(ids(each) == std::vector<std::string>{"b", "a", "f", "d"});
    CHECK(each[0].search == 0);
    CHECK(each[2].search == 1);
    CHECK(each[1].rank == 2);  // within its search
    CHECK(each[2].rank == 1);
    CHECK(ids(runners::found_nets(records, find, {"find", 10, false})).size() == 4);  // all there is
}

TEST_CASE("found nets with several objectives: the front first, then the first objective; one configuration once",
          "[search][retrain]") {
    const search::Experiment e = search::parse_experiment(kSearchExperiment, "r.yaml");
    // val_top1 up, macs down: d (0.95, 20) and b (0.8, 10) are the front, d first by val_top1;
    // c (0.85, 60) is dominated by d; d has a's settings (the same configuration found again).
    std::vector<runners::TrialRecord> records = {point("b", 0, 0, "done", 0.80, 10), point("a", 0, 1, "done", 0.90, 50),
                                                 point("c", 0, 2, "done", 0.85, 60), point("d", 0, 3, "done", 0.95, 20)};
    records[3].settings = records[1].settings;  // d is a again, measured better
    CHECK(ids(runners::found_nets(records, e.stages[0], {"find", 3, false})) == std::vector<std::string>{"d", "b", "c"});
}

TEST_CASE("a retrain stage: the search's net and point, this stage's recipe, labels naming the source",
          "[search][retrain]") {
    const search::Experiment e = search::parse_experiment(kSearchExperiment, "r.yaml");
    const search::Stage& again = e.stages[1];
    CHECK(search::needs_results(again));
    CHECK(again.depends_on() == std::vector<std::string>{"find"});
    CHECK(search::planned_count(e, again) == 2 * 2 * 2);  // top 2 of each of 2 searches, 2 seeds
    CHECK_THROWS_AS(search::expand(e, again), std::logic_error);
    auto found = [](const search::Stage& s, const search::RetrainFrom& which) {
        CHECK(s.name == "find");
        CHECK(which.top == 2);
        CHECK(which.each_search);
        const search::Settings proxy = {{"net", "resnet8"}, {"epochs", "2"}, {"train_limit", "100"}, {"data", "synthetic"}};
        auto with = [&](const char* lr, const char* width) {
            auto s = proxy;
            s["lr"] = lr;
            s["width"] = width;
            return s;
        };
        return std::vector<search::FoundNet>{
            {"t1", with("0.3", "1"), 0, 1}, {"t2", with("0.2", "1"), 0, 2}, {"t3", with("0.3", "1"), 1, 1}};
    };
    const search::EarlierResults results{{}, found};
    const auto trials = search::expand(e, again, &results);
    REQUIRE(trials.size() == 4);  // t3 is t1's configuration: once per seed, naming both searches
    CHECK(trials[0].settings.at("lr") == "0.3");
    CHECK(trials[0].labels.at("from_search") == "0,1");
    CHECK(trials[0].labels.at("found_rank") == "1");
    CHECK(trials[1].labels.at("from_search") == "0");
    CHECK(trials[1].labels.at("found_rank") == "2");
    for (const auto& t : trials) {
        CHECK(t.settings.at("epochs") == "5");       // the defaults' recipe, not the search's proxy
        CHECK(t.settings.count("train_limit") == 0);
        CHECK(t.settings.at("batch") == "32");       // this stage's own settings
        CHECK(t.swept == std::vector<std::string>{"lr", "width"});
    }
    CHECK(trials[0].id != trials[2].id);  // two seeds
    const search::EarlierResults nothing{{}, [](const search::Stage&, const search::RetrainFrom&) {
                                             return std::vector<search::FoundNet>{};
                                         }};
    CHECK_THROWS_WITH(search::expand(e, again, &nothing),
                      Catch::Contains("search stage 'find' has no finished trial to retrain"));
}

TEST_CASE("retrain errors say where and what", "[search][retrain]") {
    auto error = [](const std::string& stage2) {
        const std::string yaml = "name: r\ndefaults: {net: resnet8, data: synthetic}\nstages:\n"
                                 "  - name: grid\n    grid: {lr: [0.1, 0.2]}\n" + stage2;
        try {
            search::parse_experiment(yaml, "r.yaml");
        } catch (const std::exception& ex) {
            return std::string(ex.what());
        }
        return std::string("no error");
    };
    CHECK_THAT(error("  - name: again\n    retrain: {from: grid}\n"),
               Catch::Contains("r.yaml:7:") && Catch::Contains("retrain.from: stage 'grid' is not a search stage"));
    CHECK_THAT(error("  - name: again\n    retrain: {from: later}\n"),
               Catch::Contains("uses stage 'later', which is not an earlier stage"));
    CHECK_THAT(error("  - name: again\n    retrain: {from: grid, top: 0}\n"),
               Catch::Contains("r.yaml:7:") && Catch::Contains("retrain.top: at least 1"));
    CHECK_THAT(error("  - name: again\n    retrain: {from: grid, best: 2}\n"), Catch::Contains("best"));
    CHECK_THAT(error("  - name: again\n    retrain: {top: 2}\n"), Catch::Contains("retrain: needs from"));
}

TEST_CASE("a table search's found nets retrained end to end: check, run, results.csv and a report by stage",
          "[search][retrain][cli]") {
    TempDir dir("retrain");
    std::string csv = "lr,width,seed,val_top1,macs\n";
    for (const char* lr : {"0.1", "0.2", "0.3"})
        for (const char* w : {"0.5", "1"})
            csv += fmt::format("{},{},0,{},{}\n", lr, w, 0.5 + std::stod(lr) + std::stod(w) / 10, std::stod(w) * 1000);
    const auto table = dir.write("table.csv", csv);
    const auto exp = dir.write(
        "r.yaml", "name: r\nseed: 3\ndefaults: {net: resnet8, data: 'synthetic:200', val_size: 50, train_eval_size: 50, "
                  "epochs: 1, batch: 50, augment: false}\nstages:\n"
                  "  - name: find\n    search:\n      space:\n        lr: {choice: [0.1, 0.2, 0.3]}\n"
                  "        width: {choice: [0.5, 1]}\n      budget: 6\n      table: " + table + "\n"
                  "  - name: again\n    retrain: {from: find, top: 2}\n    seeds: [0, 1]\n"
                  "report:\n  tables:\n    - {rows: stage, metric: test_top1}\n");
    const auto check = run_cli("check " + exp);
    INFO(check.out);
    REQUIRE(check.exit_code == 0);
    CHECK(check.out.find("stage 'again': 4 trial(s) (expanded when stage 'find' is done)") != std::string::npos);
    CHECK(check.out.find("retrains the top 2 of the searches pooled with this stage's settings, 2 seed(s) each") !=
          std::string::npos);
    const auto out = dir.path() / "out";
    const auto r = run_cli(fmt::format("run {} --out {} --jobs 1 --threads-per-trial 1", exp, out.string()));
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    // results.csv's rows as column -> value (none of these values holds a comma)
    std::vector<std::map<std::string, std::string>> rows;
    std::vector<std::string> header;
    std::istringstream lines(slurp(out / "results.csv"));
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream cells(line);
        for (std::string f; std::getline(cells, f, ',');) fields.push_back(f);
        if (header.empty()) {
            header = fields;
            continue;
        }
        auto& row = rows.emplace_back();
        for (std::size_t i = 0; i < fields.size() && i < header.size(); ++i) row[header[i]] = fields[i];
    }
    // the table's best two: lr 0.3 at width 1 (0.9), then at width 0.5 (0.85); each with seeds 0 and 1
    std::multiset<std::string> retrained;
    for (auto& row : rows)
        if (row["stage"] == "again") {
            CHECK(row["status"] == "done");
            CHECK(row["from_search"] == "0");
            retrained.insert(row["lr"] + "/" + row["width"] + "/" + row["found_rank"]);
        }
    CHECK(retrained == std::multiset<std::string>{"0.3/1/1", "0.3/1/1", "0.3/0.5/2", "0.3/0.5/2"});
    CHECK(slurp(out / "summary.md").find("| again") != std::string::npos);
}
