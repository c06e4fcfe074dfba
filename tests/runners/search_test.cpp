// Search stages end to end: a table evaluator's search journaled and replayed after a kill, an
// exhausted space, constraints, bad spaces named before anything runs, and a training search
// with two objectives on two workers.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "runners/experiment/journal.hpp"
#include "support.hpp"

using deeper::test::run_cli;
using deeper::test::slurp;
using deeper::test::spawn_cli;
using deeper::test::TempDir;
namespace fs = std::filesystem;

namespace {

// lr x width, two seeds each: val_top1 = 0.5 + lr + width / 10 (+ 0.01 on seed 1), macs = width x 1000.
std::string tiny_table(const TempDir& dir) {
    std::string csv = "lr,width,seed,val_top1,macs\n";
    for (const char* lr : {"0.1", "0.2", "0.3"})
        for (const char* w : {"0.5", "1"})
            for (int seed = 0; seed < 2; ++seed)
                csv += fmt::format("{},{},{},{},{}\n", lr, w, seed, 0.5 + std::stod(lr) + std::stod(w) / 10 + 0.01 * seed,
                                   std::stod(w) * 1000);
    return dir.write("table.csv", csv);
}

std::string table_search(const TempDir& dir, const std::string& strategy, int budget, const std::string& extra = "") {
    return dir.write("search.yaml", fmt::format("name: s\nseed: 3\ndefaults: {{net: resnet8, data: synthetic}}\nstages:\n"
                                                "  - name: search\n    search:\n"
                                                "      space:\n        lr: {{choice: [0.1, 0.2, 0.3]}}\n"
                                                "        width: {{choice: [0.5, 1]}}\n"
                                                "      strategy: {}\n      budget: {}\n      table: {}\n"
                                                "      repeats: 3\n{}",
                                                strategy, budget, tiny_table(dir), extra));
}

// The journal's events without their times, in order.
std::vector<std::string> events(const fs::path& results) {
    std::vector<std::string> out;
    std::ifstream in(results / "journal" / "local.jsonl");
    for (std::string line; std::getline(in, line);) {
        auto j = nlohmann::json::parse(line);
        j.erase("time");
        out.push_back(j.dump());
    }
    return out;
}

}  // namespace

TEST_CASE("a table search is journaled, and a rerun after a kill makes the proposals an uninterrupted run makes",
          "[search][table][cli]") {
    TempDir dir("search-replay");
    const auto exp = table_search(dir, "{name: evolution, population: 2, tournament: 2}", 5);
    const fs::path full = dir.path() / "full", cut = dir.path() / "cut";
    const auto r = run_cli(fmt::format("run {} --out {}", exp, full.string()));
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    const auto all = events(full);
    REQUIRE(all.size() == 15);  // 3 searches x 5 queries
    std::set<std::string> configs;
    for (const auto& e : all) {
        const auto j = nlohmann::json::parse(e);
        CHECK(j["event"] == "query");
        if (j["labels"]["search"] == "0") configs.insert(j["settings"].dump());
    }
    CHECK(configs.size() == 5);  // no configuration twice in a search
    // a kill after the 7th event: the journal ends there
    fs::create_directories(cut / "journal");
    {
        std::ofstream out(cut / "journal" / "local.jsonl");
        std::ifstream in(full / "journal" / "local.jsonl");
        std::string line;
        for (int i = 0; i < 7 && std::getline(in, line); ++i) out << line << '\n';
    }
    const auto again = run_cli(fmt::format("run {} --out {}", exp, cut.string()));
    INFO(again.out);
    REQUIRE(again.exit_code == 0);
    CHECK(events(cut) == all);
    // and the same command once more has nothing left to do
    REQUIRE(run_cli(fmt::format("run {} --out {}", exp, cut.string())).exit_code == 0);
    CHECK(events(cut) == all);
    // the reports: every choice a column, feasible and pareto_rank, one row per search
    const std::string results = slurp(cut / "results.csv");
    CHECK(results.find(",lr,width,search,seq,") != std::string::npos);
    CHECK(results.find(",feasible,pareto_rank") != std::string::npos);
    const std::string searches = slurp(cut / "searches.csv");
    CHECK(std::count(searches.begin(), searches.end(), '\n') == 4);
    CHECK(slurp(cut / "summary.md").find("## Search") != std::string::npos);
    // one search: no spread, no comparison; two stages of different budgets share the table
    CHECK(slurp(cut / "summary.md").find("nan") == std::string::npos);
}

TEST_CASE("a budget larger than the space stops with a note; constraints refuse before evaluation",
          "[search][table][cli]") {
    TempDir dir("search-exhausted");
    const auto r = run_cli(fmt::format("run {} --out {}", table_search(dir, "random", 10), (dir.path() / "a").string()));
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("the space has no configuration left to propose after 6 of the budget's 10") != std::string::npos);
    // widths of 1 cost 1000 MACs: over the bound, so only the three of width 0.5 are evaluated
    TempDir dir2("search-constrained");
    const auto exp = table_search(dir2, "tpe", 3, "      constraints: {max_macs: 600}\n      objectives: [val_top1, macs]\n");
    const auto c = run_cli(fmt::format("check {} --no-estimate", exp));
    INFO(c.out);
    CHECK(c.out.find("constraints: macs <= 600: 50.0% of the 6 configurations feasible") != std::string::npos);
    const auto out = dir2.path() / "out";
    const auto run = run_cli(fmt::format("run {} --out {}", exp, out.string()));
    INFO(run.out);
    REQUIRE(run.exit_code == 0);
    int evaluated = 0, refused = 0;
    for (const auto& e : events(out)) {
        const auto j = nlohmann::json::parse(e);
        if (j["event"] == "query") {
            ++evaluated;
            CHECK(j["settings"]["width"] == "0.5");
        }
        if (j["event"] == "infeasible") {
            ++refused;
            CHECK(j["reason"].get<std::string>().find("macs 1000 > max_macs 600") != std::string::npos);
        }
    }
    CHECK(evaluated == 9);
    CHECK(refused > 0);
    CHECK(slurp(out / "results.csv").find("infeasible") != std::string::npos);
}

TEST_CASE("a latency constraint and objective: timed before evaluation, once per net, in results.csv",
          "[search][table][cli][latency]") {
    TempDir dir("search-latency");
    const auto exp = table_search(dir, "random", 4, "      constraints: {max_latency_ms: 10000}\n"
                                                    "      objectives: [val_top1, latency_ms]\n");
    const auto c = run_cli(fmt::format("check {} --no-estimate", exp));
    INFO(c.out);
    CHECK(c.out.find("latency_ms <= 10,000: 100.0% of the 6 configurations feasible (latency_ms is timed when") !=
          std::string::npos);
    const auto out = dir.path() / "out";
    const std::string cache = "DEEPER_TUNE_CACHE=" + (dir.path() / "cache").string();
    const auto run = run_cli(fmt::format("run {} --out {}", exp, out.string()), cache);
    INFO(run.out);
    REQUIRE(run.exit_code == 0);
    // resnet8 at two widths: two nets timed, every other proposal read back
    const std::string summary = slurp(out / "summary.md");
    CHECK(summary.find("latency_ms, stage 'search': 2 net(s) timed before training") != std::string::npos);
    CHECK(summary.find("10 read back from the machine's cache") != std::string::npos);
    const std::string csv = slurp(out / "results.csv");
    CHECK(csv.find(",latency_ms,latency_p25_ms,latency_p75_ms") != std::string::npos);
    // a bound no net meets refuses every proposal before evaluation
    TempDir dir2("search-latency-refused");
    const auto tight = table_search(dir2, "random", 3, "      constraints: {max_latency_ms: 0.000001}\n");
    const auto refused = run_cli(fmt::format("run {} --out {}", tight, (dir2.path() / "out").string()), cache);
    INFO(refused.out);
    CHECK(refused.out.find("the space has no configuration left to propose after 0 of the budget's 3") !=
          std::string::npos);
    CHECK(refused.out.find("18 proposal(s) refused by a constraint (never trained)") != std::string::npos);
    CHECK(slurp(dir2.path() / "out" / "journal" / "local.jsonl").find("> max_latency_ms 1e-06") != std::string::npos);
}

TEST_CASE("bad search spaces are named before anything runs, file:line:column", "[search][cli]") {
    TempDir dir("search-bad");
    const auto net = dir.write("net.yaml", "type: mbconv\nresolution: 16\nstem: 8\nblocks: [\"${l1}_s2_c16\", \"${l2}_c16\"]\nhead: 32\n");
    auto exp = [&](const std::string& space, const std::string& extra = "") {
        return dir.write("bad.yaml", "name: b\ndefaults: {spec: " + net + ", data: synthetic}\nstages:\n  - name: s\n    search:\n"
                                     "      space:\n" + space + "      budget: 4\n" + extra);
    };
    auto check = [&](const std::string& path) { return run_cli("check --no-estimate " + path); };
    auto r = check(exp("        net.l1: {choice: []}\n        net.l2: {choice: [id]}\n"));
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("bad.yaml:7:26: net.l1.choice: expected a list") != std::string::npos);
    r = check(exp("        net.l1: {choice: [id, ir_k4_e3]}\n        net.l2: {choice: [id]}\n"));
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("net.l1=ir_k4_e3") != std::string::npos);
    CHECK(r.out.find("kernel must be odd") != std::string::npos);
    r = check(exp("        net.l1: {choice: [id]}\n        net.l2: {choice: [id]}\n        net.l9: {choice: [id]}\n"));
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("bad.yaml:9:9: net.l9: the net file " + net + " has no position ${l9} (it has l1, l2)") != std::string::npos);
    r = check(exp("        net.l1: {choice: [id]}\n"));
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("has a position ${l2} that neither the space nor a setting fills") != std::string::npos);
    const auto table = dir.write("t.csv", "net.l1,net.l2,val_top1\nid,id,0.5\n");
    r = check(exp("        net.l1: {choice: [id, ir_k3_e3]}\n        net.l2: {choice: [id]}\n", "      table: " + table + "\n"));
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("bad.yaml:10:14: stage 's': table: " + table + " has no row for net.l1=ir_k3_e3;net.l2=id;") !=
          std::string::npos);
    r = check(exp("        net.l1: {choice: [id]}\n        net.l2: {choice: [id]}\n", "      strategy: {name: evolution, startup: 3}\n"));
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("strategy.startup: evolution does not take it") != std::string::npos);
    r = check(exp("        net.l1: {choice: [id]}\n        net.l2: {choice: [id]}\n", "      objectives: [test_top1]\n"));
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("the test set is for the report") != std::string::npos);
    const auto epochs = dir.write("ep.yaml", "name: b\ndefaults: {net: resnet8, data: synthetic}\nstages:\n  - name: s\n"
                                             "    search:\n      space:\n        epochs: {choice: [1, 2]}\n      budget: 2\n"
                                             "    early_stop: {min_epochs: 1}\n");
    r = check(epochs);
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("ep.yaml:7:9: search.space: epochs cannot be searched under early_stop") != std::string::npos);
    auto settings_search = [&](const std::string& rest) {
        return check(dir.write("s.yaml", "name: b\ndefaults: {net: resnet8, data: synthetic, epochs: 2}\nstages:\n"
                                         "  - name: s\n    search:\n      space:\n        lr: {log_uniform: [0.01, 0.1]}\n"
                                         "        width: {int: {min: 1, max: 3}}\n      budget: 2\n" + rest));
    };
    r = settings_search("");  // real and integer ranges: both ends built before the run
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("infinite (real ranges)") != std::string::npos);
    r = settings_search("      strategy: {name: tpe, prior_weight: 0}\n");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("strategy.prior_weight: must be a positive number") != std::string::npos);
    r = settings_search("      objectives: [best_val_top1]\n    early_stop: {min_epochs: 1}\n");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("the objective 'best_val_top1' is known only when a trial ends") != std::string::npos);
    // an upper bound, or a reward's cost, on a metric that is better when higher
    r = settings_search("      constraints: {max_throughput: 1000}\n");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("s.yaml:10:21: constraint 'max_throughput': expected max_ and a cost known before training "
                     "(max_params, max_macs, max_latency_ms)") != std::string::npos);
    r = settings_search("      reward: {metric: val_top1, cost: throughput, target: 1000}\n");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("s.yaml:10:40: reward.cost: 'throughput' is better when higher") != std::string::npos);
}

TEST_CASE("a training search: two objectives, a MACs constraint, two workers, resumed without training twice",
          "[search][cli]") {
    TempDir dir("search-train");
    const auto net = dir.write("net.yaml", "type: mbconv\nresolution: 16\nin_channels: 1\nstem: 8\n"
                                           "blocks: [\"${l1}_s2_c16\", \"${l2}_c16\"]\nhead: 32\n");
    const auto exp = dir.write("t.yaml", "name: t\nseed: 1\ndefaults: {spec: " + net +
                                             ", data: 'synthetic:300', val_size: 100, train_eval_size: 100, epochs: 1, "
                                             "batch: 50, augment: false}\nstages:\n  - name: s\n    search:\n      space:\n"
                                             "        net.l1: {choice: [id, ir_k3_e3, ir_k5_e6]}\n"
                                             "        net.l2: {choice: [id, ir_k3_e3, ir_k5_e6]}\n"
                                             "      strategy: tpe\n      budget: 4\n      objectives: [val_top1, macs]\n"
                                             "      constraints: {max_macs: 400000}\n");
    const auto out = dir.path() / "out";
    const auto r = run_cli(fmt::format("run {} --out {} --jobs 2 --threads-per-trial 1", exp, out.string()));
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    int proposed = 0, done = 0;
    std::set<std::string> trials;
    for (const auto& e : events(out)) {
        const auto j = nlohmann::json::parse(e);
        if (j["event"] == "propose") ++proposed, trials.insert(j["trial"].get<std::string>());
        if (j["event"] == "done") {
            ++done;
            CHECK(j["result"]["macs"].get<double>() <= 400000);
        }
    }
    CHECK(proposed == 4);
    CHECK(done == 4);
    CHECK(trials.size() == 4);
    const auto before = events(out);
    REQUIRE(run_cli(fmt::format("run {} --out {} --jobs 2 --threads-per-trial 1", exp, out.string())).exit_code == 0);
    CHECK(events(out) == before);  // nothing trained twice
    CHECK(slurp(out / "summary.md").find("Objectives val_top1 max, macs min") != std::string::npos);
}

TEST_CASE("a training search under ASHA: proposals stop at low rungs by non-dominated rank, one goes to the end",
          "[search][cli][early_stop]") {
    TempDir dir("search-asha");
    const auto net = dir.write("net.yaml", "type: mbconv\nresolution: 16\nin_channels: 1\nstem: 8\n"
                                           "blocks: [\"${l1}_s2_c16\", \"${l2}_c16\"]\nhead: 32\n");
    const auto exp = dir.write("a.yaml", "name: a\nseed: 2\ndefaults: {spec: " + net +
                                             ", data: 'synthetic:200', val_size: 100, train_eval_size: 100, epochs: 4, "
                                             "batch: 50, augment: false}\nstages:\n  - name: s\n    search:\n      space:\n"
                                             "        net.l1: {choice: [id, ir_k3_e3, ir_k5_e6]}\n"
                                             "        net.l2: {choice: [id, ir_k3_e3, ir_k5_e6]}\n"
                                             "      strategy: {name: evolution, population: 3, tournament: 2}\n"
                                             "      budget: 6\n      objectives: [val_top1, macs]\n"
                                             "    early_stop: {min_epochs: 1, reduction: 2}\n");
    const auto out = dir.path() / "out";
    const auto r = run_cli(fmt::format("run {} --out {} --jobs 2 --threads-per-trial 1", exp, out.string()));
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    std::map<std::string, int> rungs_reached;
    int proposed = 0, done = 0, stopped = 0, promoted = 0;
    for (const auto& e : events(out)) {
        const auto j = nlohmann::json::parse(e);
        const std::string ev = j["event"];
        proposed += ev == "propose";
        done += ev == "done";
        stopped += ev == "stopped";
        promoted += ev == "promote";
        if (ev == "rung") {
            rungs_reached[j["trial"]] = std::max(rungs_reached[j["trial"]], j["rung"].get<int>() + 1);
            CHECK(j["losses"].size() == 2);  // both objectives ranked
        }
    }
    CHECK(proposed == 6);
    CHECK(done >= 1);              // at least one trained to the last rung
    CHECK(stopped >= 1);           // and some did not go on
    CHECK(done + stopped == 6);    // every proposal ends one way or the other
    CHECK(promoted >= 2);          // rung 1 -> 2 and 2 -> 3 at least once
    CHECK(r.out.find("early stopping:") != std::string::npos);
    const auto before = events(out);
    REQUIRE(run_cli(fmt::format("run {} --out {} --jobs 2 --threads-per-trial 1", exp, out.string())).exit_code == 0);
    CHECK(events(out) == before);  // a rerun takes no decision again and trains nothing
}

TEST_CASE("a training search killed with SIGKILL resumes with the proposals an uninterrupted run makes",
          "[search][cli][slow]") {
    TempDir dir("search-kill");
    const auto net = dir.write("net.yaml", "type: mbconv\nresolution: 16\nin_channels: 1\nstem: 8\n"
                                           "blocks: [\"${l1}_s2_c16\", \"${l2}_c16\"]\nhead: 32\n");
    const auto exp = dir.write("k.yaml", "name: k\nseed: 4\ndefaults: {spec: " + net +
                                             ", data: 'synthetic:1000', val_size: 100, train_eval_size: 100, epochs: 3, "
                                             "batch: 50, augment: false}\nstages:\n  - name: s\n    search:\n      space:\n"
                                             "        net.l1: {choice: [id, ir_k3_e3, ir_k5_e6]}\n"
                                             "        net.l2: {choice: [id, ir_k3_e3, ir_k5_e6]}\n"
                                             "      strategy: {name: tpe, startup: 2}\n      budget: 5\n");
    auto proposals = [&](const fs::path& out) {  // (seq, trial) in proposal order, and each done trial's val_top1
        std::vector<std::string> p;
        for (const auto& e : events(out)) {
            const auto j = nlohmann::json::parse(e);
            if (j["event"] == "propose") p.push_back(j["labels"]["seq"].get<std::string>() + " " + j["trial"].get<std::string>());
        }
        return p;
    };
    const fs::path whole = dir.path() / "whole", killed = dir.path() / "killed";
    REQUIRE(run_cli(fmt::format("run {} --out {} --jobs 1 --threads-per-trial 1", exp, whole.string())).exit_code == 0);
    const pid_t pid = spawn_cli(fmt::format("run {} --out {} --jobs 1 --threads-per-trial 1", exp, killed.string()),
                                dir.path() / "log");
    REQUIRE(pid >= 0);
    // Kill it in the middle of its third proposal's training.
    bool sent = false;
    for (int i = 0; i < 4800 && !sent; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        const std::string j = slurp(killed / "journal" / "local.jsonl");
        std::size_t proposes = 0;
        for (std::size_t at = 0; (at = j.find("\"event\":\"propose\"", at)) != std::string::npos; ++at) ++proposes;
        std::size_t third = 0;  // where the third proposal is journaled
        for (int k = 0; k < 3 && third != std::string::npos; ++k) third = j.find("\"event\":\"propose\"", k ? third + 1 : 0);
        if (proposes >= 3 && third != std::string::npos && j.find("\"event\":\"epoch\"", third) != std::string::npos) {
            kill(pid, SIGKILL);
            sent = true;
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(sent);
    const auto r = run_cli(fmt::format("run {} --out {} --jobs 1 --threads-per-trial 1", exp, killed.string()));
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK(proposals(killed) == proposals(whole));
    // every proposal trained to its end once, with the uninterrupted run's results (the cut-off one resumed
    // from its checkpoint bit for bit)
    auto finals = [&](const fs::path& out) {
        std::map<std::string, double> val;
        int done = 0;
        for (const auto& e : events(out)) {
            const auto j = nlohmann::json::parse(e);
            if (j["event"] == "epoch") val[j["trial"]] = j["metrics"]["val_top1"].get<double>();
            done += j["event"] == "done";
        }
        CHECK(done == 5);
        return val;
    };
    CHECK(finals(killed) == finals(whole));
}

namespace {

// A training search of 6 proposals over 9 nets, for two shards sharing it (under ASHA or not).
std::string shared_search(const TempDir& dir, bool early_stop) {
    const auto net = dir.write("net.yaml", "type: mbconv\nresolution: 16\nin_channels: 1\nstem: 8\n"
                                           "blocks: [\"${l1}_s2_c16\", \"${l2}_c16\"]\nhead: 32\n");
    return dir.write("s.yaml", "name: s\nseed: 2\ndefaults: {spec: " + net +
                                   ", data: 'synthetic:8000', val_size: 100, train_eval_size: 100, epochs: 4, "
                                   "batch: 50, augment: false, seed: 1}\nstages:\n  - name: s\n    search:\n"
                                   "      space:\n"
                                   "        net.l1: {choice: [id, ir_k3_e3, ir_k5_e6]}\n"
                                   "        net.l2: {choice: [id, ir_k3_e3, ir_k5_e6]}\n"
                                   "      strategy: {name: evolution, population: 3, tournament: 2}\n"
                                   "      budget: 6\n" +
                                   std::string(early_stop ? "    early_stop: {min_epochs: 1, reduction: 2}\n" : ""));
}

std::string all_journals(const fs::path& out) {
    std::string all;
    if (fs::exists(out / "journal"))
        for (const auto& f : fs::directory_iterator(out / "journal"))
            if (f.path().extension() == ".jsonl") all += slurp(f.path());
    return all;
}

// Starts shard 1 of 2 and kills it (SIGKILL) once it trains (an epoch in its journal); false
// when it ended, or never trained, first.
bool kill_once_it_trains(const std::string& args, const fs::path& out, const fs::path& log) {
    const pid_t pid = spawn_cli(args, log);
    if (pid < 0) return false;
    for (int i = 0; i < 6000; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        if (slurp(out / "journal" / "shard-1-of-2.jsonl").find("\"event\":\"epoch\"") != std::string::npos) {
            kill(pid, SIGKILL);
            deeper::test::wait_exit(pid);
            return true;
        }
        if (deeper::test::has_exited(pid)) return false;
    }
    kill(pid, SIGKILL);
    deeper::test::wait_exit(pid);
    return false;
}

// A search the shards shared, complete: every proposal, rung, promotion, stop and end once
// across their journals, each shard trained, each proposal done or stopped.
void check_shared_search_complete(const fs::path& out) {
    std::map<std::string, int> decisions;
    std::set<std::string> seqs, trials;
    std::istringstream lines(all_journals(out));
    for (std::string line; std::getline(lines, line);) {
        auto j = nlohmann::json::parse(line);
        const std::string ev = j["event"];
        if (ev == "propose") {
            CHECK(seqs.insert(j["labels"]["seq"].get<std::string>()).second);
            trials.insert(j["trial"].get<std::string>());
        }
        if (ev == "rung" || ev == "promote" || ev == "stopped" || ev == "propose" || ev == "done")
            ++decisions[ev + " " + j["trial"].get<std::string>() + " " + (j.contains("rung") ? j["rung"].dump() : "")];
    }
    CHECK(seqs.size() == 6);
    CHECK(trials.size() == 6);
    for (const auto& [what, n] : decisions) {
        INFO(what);
        CHECK(n == 1);
    }
    for (const char* shard : {"shard-0-of-2", "shard-1-of-2"})
        CHECK(slurp(out / "journal" / (std::string(shard) + ".jsonl")).find("\"event\":\"start\"") != std::string::npos);
    REQUIRE(run_cli(fmt::format("report {}", out.string())).exit_code == 0);
    int finished = 0;
    for (const auto& r : deeper::runners::read_journals(out.string())) finished += r.status == "done" || r.status == "stopped";
    CHECK(finished == 6);
}

}  // namespace

TEST_CASE("a training search shared by two shards, one killed and restarted: every proposal once, no job twice",
          "[search][cli][shards]") {
    const int jobs = GENERATE(1, 2);
    TempDir dir(fmt::format("search-shards-{}", jobs));
    const auto exp = shared_search(dir, true);
    const fs::path out = dir.path() / "out";
    auto args = [&](int shard) {
        return fmt::format("run {} --out {} --shard {}/2 --jobs {} --threads-per-trial 1 --no-report", exp, out.string(),
                           shard, jobs);
    };
    const pid_t first = spawn_cli(args(0), dir.path() / "log0");
    REQUIRE(first >= 0);
    const bool killed = kill_once_it_trains(args(1), out, dir.path() / "log1");
    INFO("jobs " << jobs << "\n" << slurp(dir.path() / "log1"));
    if (!killed) kill(first, SIGKILL), deeper::test::wait_exit(first);  // nothing left running in the folder
    REQUIRE(killed);
    const pid_t again = spawn_cli(args(1), dir.path() / "log1b");
    CHECK(deeper::test::wait_exit(first) == 0);
    CHECK(deeper::test::wait_exit(again) == 0);
    INFO(slurp(dir.path() / "log0") + slurp(dir.path() / "log1b"));
    check_shared_search_complete(out);
}

TEST_CASE("a shard killed and never restarted: the live one adopts its job and completes the search",
          "[search][cli][shards]") {
    TempDir dir("search-adopt");
    const auto exp = shared_search(dir, false);  // no rungs: nothing but the dead claim brings shard 0 to it
    const fs::path out = dir.path() / "out";
    auto args = [&](int shard) {
        return fmt::format("run {} --out {} --shard {}/2 --jobs 1 --threads-per-trial 1 --no-report", exp, out.string(),
                           shard);
    };
    const pid_t live = spawn_cli(args(0), dir.path() / "log0");
    REQUIRE(live >= 0);
    const bool killed = kill_once_it_trains(args(1), out, dir.path() / "log1");
    INFO(slurp(dir.path() / "log1"));
    if (!killed) kill(live, SIGKILL), deeper::test::wait_exit(live);
    REQUIRE(killed);
    CHECK(deeper::test::wait_exit(live) == 0);
    INFO(slurp(dir.path() / "log0"));
    check_shared_search_complete(out);
}

TEST_CASE("the search table: stages of different budgets share its columns; one search has no spread",
          "[search][table][cli]") {
    TempDir dir("search-columns");
    const std::string stage = "  - name: {}\n    search:\n      space:\n        lr: {{choice: [0.1, 0.2, 0.3]}}\n"
                              "        width: {{choice: [0.5, 1]}}\n      strategy: {}\n      budget: {}\n"
                              "      table: {}\n      repeats: {}\n";
    const auto table = tiny_table(dir);
    const auto exp = dir.write("c.yaml", "name: c\nseed: 3\ndefaults: {net: resnet8, data: synthetic}\nstages:\n" +
                                             fmt::format(fmt::runtime(stage), "random", "random", 6, table, 3) +
                                             fmt::format(fmt::runtime(stage), "evo", "evolution", 3, table, 1));
    const auto out = dir.path() / "out";
    const auto r = run_cli(fmt::format("run {} --out {}", exp, out.string()));
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    const std::string md = slurp(out / "summary.md");
    INFO(md);
    for (const char* column : {"at 1", "at 3", "at 6"}) CHECK(md.find(column) != std::string::npos);
    CHECK(md.find("nan") == std::string::npos);
}

TEST_CASE("a throughput objective: inference at the trial's batch, timed before evaluation, in results.csv",
          "[search][table][cli][latency]") {
    TempDir dir("search-throughput");
    const auto exp = table_search(dir, "random", 3, "      objectives: [val_top1, throughput]\n");
    const auto out = dir.path() / "out";
    const auto run = run_cli(fmt::format("run {} --out {}", exp, out.string()),
                             "DEEPER_TUNE_CACHE=" + (dir.path() / "cache").string());
    INFO(run.out);
    REQUIRE(run.exit_code == 0);
    CHECK(slurp(out / "summary.md").find("throughput, stage 'search': 2 net(s) timed before training") != std::string::npos);
    const auto records = deeper::runners::read_journals(out.string());
    int answered = 0;
    for (const auto& r : records) {
        if (r.status != "done") continue;
        ++answered;
        CHECK(r.result.at("throughput") > 0);
        CHECK(r.result.at("throughput_batch") == 128);  // the trials' batch (the default)
        // (images, not passes, per second: inference_timing_test checks the arithmetic exactly)
    }
    CHECK(answered == 9);
    CHECK(slurp(out / "results.csv").find(",throughput,throughput_batch") != std::string::npos);
}

TEST_CASE("a proposal's timed latency survives its trial's start in the journal's reading", "[search][latency]") {
    TempDir dir("search-latency-journal");
    fs::create_directories(dir.path() / "journal");
    std::ofstream(dir.path() / "journal" / "local.jsonl")
        << R"({"event":"propose","trial":"t1","stage":"s","settings":{"lr":"0.1"},)"
        << R"("result":{"latency_ms":0.25,"throughput":900,"macs":1000}})"
        << "\n"
        << R"({"event":"start","trial":"t1","stage":"s","settings":{"lr":"0.1"},"seed":3})" << "\n";
    const auto records = deeper::runners::read_journals(dir.path().string());
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == "running");
    CHECK(records[0].result.at("latency_ms") == 0.25);
    CHECK(records[0].result.at("throughput") == 900);
    CHECK(records[0].result.count("macs") == 0);  // counted again when it is done
}
