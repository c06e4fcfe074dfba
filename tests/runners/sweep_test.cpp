// Sweeps end to end: failure isolation, resume after SIGKILL without lost or doubled rows,
// reports rebuilt from the journal, and the CLI verbs.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "runners/cpu_budget.hpp"
#include "runners/experiment/journal.hpp"
#include "runners/experiment/report.hpp"
#include "runners/experiment/scheduler.hpp"
#include "runners/experiment/svg.hpp"
#include "search/expand.hpp"
#include "search/experiment.hpp"
#include "support.hpp"

using namespace deeper;
using deeper::test::run_cli;
using deeper::test::TempDir;
using deeper::test::slurp;

namespace {

std::size_t lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

std::string experiment(const std::string& spec, int epochs, const std::string& lrs, int images = 600) {
    return "name: sweep\nseed: 5\ndefaults:\n  spec: " + spec + "\n  data: synthetic:" + std::to_string(images) +
           "\n  val_size: 100\n  train_eval_size: 100\n  epochs: " + std::to_string(epochs) +
           "\n  batch: 50\n  augment: false\nstages:\n  - name: lrs\n    grid:\n      lr: [" + lrs + "]\n" +
           "report:\n  tables:\n    - {rows: lr, metric: test_top1}\n";
}

const char* kNet = "type: plain\nlayers: [8, M, 16, M]\nclassifier: []\n";

// A learning-rate grid under ASHA (keep 1/2, rungs at 1, 2 and 4 epochs) on synthetic data.
std::string asha_experiment(const TempDir& dir, const std::string& data, const std::string& lrs) {
    const auto spec = dir.write("net.yaml", kNet);
    return dir.write("es.yaml", "name: es\nseed: 5\ndefaults: {spec: " + spec + ", data: '" + data +
                                    "', val_size: 100, train_eval_size: 100, epochs: 4, batch: 50, augment: false}\n"
                                    "stages:\n  - name: lrs\n    grid: {lr: [" + lrs + "]}\n"
                                    "    early_stop: {method: asha, reduction: 2, min_epochs: 1}\n");
}

}  // namespace

TEST_CASE("a diverging trial becomes a failed row and the others finish", "[sweep]") {
    TempDir dir("sweep-fail");
    const auto spec = dir.write("net.yaml", kNet);
    const auto exp_path = dir.write("exp.yaml", experiment(spec, 2, "0.05, 1000000, 0.1"));
    const search::Experiment e = search::load_experiment(exp_path);
    runners::RunOptions o;
    o.out = (dir.path() / "out").string();
    o.jobs = 2;
    o.threads_per_trial = 1;
    o.progress = false;
    const auto s = runners::run_experiment(e, runners::validate_experiment(e), o);
    CHECK(s.done == 2);
    CHECK(s.failed == 1);
    runners::write_reports(o.out, &e);
    const std::string csv = slurp(dir.path() / "out" / "results.csv");
    CHECK(lines(csv) == 4);
    CHECK_THAT(csv, Catch::Contains(",failed,diverged at epoch "));
    // Running again skips the finished two and tries the failed one again (which fails again:
    // the run stays red while a failed row remains).
    const auto again = runners::run_experiment(e, runners::validate_experiment(e), o);
    CHECK(again.skipped == 2);
    CHECK(again.done == 0);
    CHECK(again.failed == 1);
    runners::write_reports(o.out, &e);
    CHECK(lines(slurp(dir.path() / "out" / "results.csv")) == 4);  // still one row per trial
    const std::string md = slurp(dir.path() / "out" / "summary.md");
    CHECK_THAT(md, Catch::Contains("## Failed trials") && Catch::Contains("| lr "));
}

TEST_CASE("a sweep killed with SIGKILL resumes with no lost and no duplicated rows", "[sweep][slow]") {
    TempDir dir("sweep-kill");
    const auto spec = dir.write("net.yaml", kNet);
    const auto exp_path = dir.write("exp.yaml", experiment(spec, 6, "0.02, 0.05, 0.1", 5000));
    const auto out = (dir.path() / "out").string();
    const pid_t pid = deeper::test::spawn_cli("run " + exp_path + " --out " + out + " --jobs 1 --threads-per-trial 2", dir.path() / "log");
    REQUIRE(pid >= 0);
    // Kill it once one trial is done and the next is mid-way.
    const auto journal = std::filesystem::path(out) / "journal" / "local.jsonl";
    bool killed = false;
    for (int i = 0; i < 4800 && !killed; ++i) {  // up to 4 minutes
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const std::string j = slurp(journal);
        const auto done = j.find("\"event\":\"done\"");
        if (done != std::string::npos && j.find("\"event\":\"epoch\"", done) != std::string::npos) {
            kill(pid, SIGKILL);
            killed = true;
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(killed);
    CHECK(WIFSIGNALED(status));
    auto r = run_cli("run " + exp_path + " --out " + out + " --jobs 1 --threads-per-trial 2");
    INFO(r.out << "results.csv:\n" << slurp(std::filesystem::path(out) / "results.csv"));
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("skipped (finished before)"));
    const std::string csv = slurp(std::filesystem::path(out) / "results.csv");
    CHECK(lines(csv) == 4);  // header + 3 trials, each once
    std::size_t done = 0;
    for (std::size_t at = 0; (at = csv.find(",done,", at)) != std::string::npos; ++at) ++done;
    CHECK(done == 3);
    const std::string curves = slurp(std::filesystem::path(out) / "curves.csv");
    CHECK(lines(curves) == 1 + 3 * 6);  // every epoch of every trial exactly once
}

TEST_CASE("deeper check, run and report end to end", "[sweep][cli]") {
    TempDir dir("sweep-cli");
    const auto spec = dir.write("net.yaml", kNet);
    const auto exp_path = dir.write("exp.yaml", experiment(spec, 1, "0.05, 0.1"));
    auto c = run_cli("check " + exp_path);
    INFO(c.out);
    CHECK(c.exit_code == 0);
    CHECK_THAT(c.out, Catch::Contains("stage 'lrs': 2 trial(s)") && Catch::Contains("est_time"));
    const auto out = (dir.path() / "out").string();
    auto r = run_cli("run " + exp_path + " --out " + out + " --jobs 2 --threads-per-trial 1");
    CHECK(r.exit_code == 0);
    for (const char* f : {"results.csv", "curves.csv", "summary.md", "plot1-lrs-val_top1.svg"})
        CHECK(std::filesystem::exists(std::filesystem::path(out) / f));
    const std::string before = slurp(std::filesystem::path(out) / "results.csv");
    std::filesystem::remove(std::filesystem::path(out) / "results.csv");
    auto rep = run_cli("report " + out + " --experiment " + exp_path);
    CHECK(rep.exit_code == 0);
    CHECK(slurp(std::filesystem::path(out) / "results.csv") == before);
    // The swept lr is a setting column beside the measured per-epoch lr: no name twice.
    for (const char* f : {"results.csv", "curves.csv"}) {
        const std::string csv = slurp(std::filesystem::path(out) / f);
        std::vector<std::string> columns;
        std::stringstream header(csv.substr(0, csv.find('\n')));
        for (std::string c; std::getline(header, c, ',');) columns.push_back(c);
        std::sort(columns.begin(), columns.end());
        INFO(f << ": " << csv.substr(0, csv.find('\n')));
        CHECK(std::adjacent_find(columns.begin(), columns.end()) == columns.end());
    }
    CHECK_THAT(slurp(std::filesystem::path(out) / "curves.csv"), Catch::Contains(",setting_lr,") &&
                                                                     Catch::Contains(",epoch,lr,"));
    // Bad files never run anything.
    const auto bad = dir.write("bad.yaml", "name: x\nstages:\n  - grid: {lr: [0.1, x]}\n");
    auto b = run_cli("run " + bad + " --out " + (dir.path() / "never").string());
    CHECK(b.exit_code == 2);
    CHECK_THAT(b.out, Catch::Contains("bad.yaml:3:22: option 'lr'"));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "never"));
}

TEST_CASE("the shard split puts every trial in exactly one shard, by id, shards differ by at most one",
          "[sweep][slurm]") {
    for (std::size_t trials : {1u, 2u, 5u, 500u}) {
        std::vector<std::string> ids;
        for (std::size_t i = 0; i < trials; ++i) ids.push_back(search::short_hash("trial " + std::to_string(i)));
        for (int n : {1, 2, 3, 7, 16}) {
            const std::vector<int> shard = runners::shard_split(ids, n);
            REQUIRE(shard.size() == trials);
            std::vector<int> per_shard(n, 0);
            for (int s : shard) {
                REQUIRE(s >= 0);
                REQUIRE(s < n);
                ++per_shard[s];
            }
            const auto [lo, hi] = std::minmax_element(per_shard.begin(), per_shard.end());
            CHECK(*hi - *lo <= 1);
            if (trials >= std::size_t(n)) CHECK(*lo >= 1);  // no idle array task
            // Stable: the same id lands in the same shard whatever the expansion order.
            std::vector<std::string> reversed(ids.rbegin(), ids.rend());
            const std::vector<int> again = runners::shard_split(reversed, n);
            for (std::size_t i = 0; i < trials; ++i) CHECK(again[trials - 1 - i] == shard[i]);
        }
    }
}

TEST_CASE("deeper submit --dry-run writes one array per stage, chained, and a report job", "[sweep][slurm][cli]") {
    TempDir dir("submit");
    const auto spec = dir.write("net.yaml", kNet);
    const auto exp_path = dir.write("exp.yaml", experiment(spec, 1, "0.05, 0.1, 0.2"));
    const auto out = (dir.path() / "out").string();
    auto r = run_cli("submit " + exp_path + " --out " + out + " --shards 2 --cpus-per-task 1 --time 0:30:00 "
                     "--partition debug --sbatch-arg=--qos=low --dry-run");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("stage lrs: 3 trial(s) in 2 array task(s)"));
    CHECK_THAT(r.out, Catch::Contains("--dependency=afterok:<stage1-lrs>"));  // the report waits
    const std::string script = slurp(std::filesystem::path(out) / "slurm" / "stage1-lrs.sbatch");
    for (const char* line : {"#SBATCH --array=0-1", "#SBATCH --cpus-per-task=1", "#SBATCH --time=0:30:00",
                             "#SBATCH --partition=debug", "#SBATCH --qos=low", "#SBATCH --requeue",
                             "#SBATCH --signal=B:USR1@120", "--shard \"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\"",
                             "--stage 'lrs'"})
        CHECK_THAT(script, Catch::Contains(line));
    CHECK(std::filesystem::exists(std::filesystem::path(out) / "slurm" / "report.sbatch"));
    // status works before anything ran, from the kept experiment copy
    auto s = run_cli("status " + out);
    CHECK(s.exit_code == 0);
    CHECK_THAT(s.out, Catch::Contains("lrs") && Catch::Contains("3"));
}

TEST_CASE("plot axes label round ticks, never -0", "[sweep][report]") {
    const runners::Series s{"a", {{1, -0.01}, {2, 0.3}, {3, 0.88}, {10, 0.031}}};
    const std::string svg = runners::svg_plot("t", "epoch", "error", {s}, runners::Marks::curve, {});
    CHECK(svg.find(">-0<") == std::string::npos);
    CHECK(svg.find(">0<") != std::string::npos);
    CHECK(svg.find(">0.6<") != std::string::npos);
}

TEST_CASE("check's estimates say when other work was running on the cores", "[sweep][cli]") {
    CHECK(runners::busy_cores_note(0.2, 2).empty());
    CHECK(runners::busy_cores_note(-1, 2).empty());  // load unknown
    CHECK_THAT(runners::busy_cores_note(3.04, 2), Catch::Contains("1-minute load 3.0 on 2 core(s)"));
}

TEST_CASE("check lists a list stage whose items set different keys, by their labels", "[sweep][cli]") {
    TempDir dir("sweep-list");
    const auto exp_path = dir.write("exp.yaml", R"(name: list
defaults: {data: "synthetic:200", net: resnet8, width: 0.5, resolution: 32, epochs: 1}
stages:
  - name: variants
    list:
      - {label: base}
      - {label: fast, lr: 0.3}
)");
    auto c = run_cli("check " + exp_path + " --no-estimate");
    INFO(c.out);
    CHECK(c.exit_code == 0);
    CHECK_THAT(c.out, Catch::Contains("label=base") && Catch::Contains("lr=0.3 label=fast"));
}

TEST_CASE("check notes a report table whose cells would pool more than seeds", "[sweep][cli]") {
    TempDir dir("sweep-mixed");
    const auto exp_path = dir.write("exp.yaml", R"(name: mixed
defaults: {data: "synthetic:200", net: resnet8, width: 0.5, resolution: 32, epochs: 1}
stages:
  - name: g
    grid: {lr: [0.1, 0.3], weight_decay: [0.0001, 0.0005]}
    seeds: [1, 2]
report:
  tables:
    - {title: by lr, stage: g, rows: lr}
    - {title: by lr and wd, stage: g, rows: lr, columns: weight_decay}
)");
    auto c = run_cli("check " + exp_path + " --no-estimate");
    INFO(c.out);
    CHECK(c.exit_code == 0);
    CHECK_THAT(c.out, Catch::Contains("note: report table 'by lr': every cell pools trials that differ in more than "
                                      "their seed (weight_decay 0.0001, 0.0005)"));
    CHECK_THAT(c.out, !Catch::Contains("'by lr and wd'"));  // its cells are one configuration's seeds each
}

TEST_CASE("check shows both MAC ratios of a compound search and warns when they disagree", "[sweep][cli]") {
    TempDir dir("sweep-ratio");
    const auto exp_path = dir.write("exp.yaml", R"(name: ratio
defaults: {data: "synthetic:200", width: 0.5, resolution: 32, epochs: 1}
stages:
  - name: search
    compound_search:
      alpha: {min: 1.0, max: 1.4, step: 0.2}
      beta: {min: 1.0, max: 1.3, step: 0.1}
      gamma: {min: 1.0, max: 1.3, step: 0.1}
      check: formula
)");
    auto c = run_cli("check " + exp_path + " --no-estimate");
    INFO(c.out);
    CHECK(c.exit_code == 0);
    CHECK_THAT(c.out, Catch::Contains("formula_ratio=2.0449 macs_ratio=") &&
                          Catch::Contains("warning: stage 'search':") && Catch::Contains("`check: macs`"));
}

TEST_CASE("check warns when the first rung falls within the learning-rate warm-up", "[sweep][cli][early_stop]") {
    TempDir dir("sweep-warmup");
    auto check = [&](int min_epochs) {
        const auto exp_path = dir.write("exp.yaml", fmt::format(R"(name: warm
defaults: {{data: "synthetic:200", net: resnet8, width: 0.25, epochs: 9, warmup_epochs: 1}}
stages:
  - name: lrs
    grid: {{lr: [0.01, 0.1, 1.0]}}
    early_stop: {{method: asha, min_epochs: {}, reduction: 3}}
)", min_epochs));
        return run_cli("check " + exp_path + " --no-estimate");
    };
    const auto inside = check(1);
    INFO(inside.out);
    CHECK(inside.exit_code == 0);
    CHECK_THAT(inside.out, Catch::Contains("warning: stage 'lrs': the first rung (after 1 epoch(s)) falls within the "
                                           "learning-rate warm-up (1 epoch(s))"));
    const auto past = check(2);
    CHECK(past.exit_code == 0);
    CHECK_THAT(past.out, !Catch::Contains("warm-up"));
}

TEST_CASE("early stopping: a diverging lr stops at the first rung, the best trains on, exactly as without it",
          "[sweep][early_stop]") {
    TempDir dir("sweep-asha");
    const auto spec = dir.write("net.yaml", kNet);
    const std::string defaults = "name: es\nseed: 5\ndefaults: {spec: " + spec +
                                 ", data: 'synthetic:600', val_size: 100, train_eval_size: 100, epochs: 4, batch: 50, "
                                 "augment: false}\nstages:\n  - name: lrs\n";
    const auto exp = dir.write("es.yaml", defaults + "    grid: {lr: [0.05, 0.1, 0.2, 1000]}\n"
                                                     "    early_stop: {method: asha, reduction: 2, min_epochs: 1}\n");
    const auto out = (dir.path() / "out").string();
    const auto r = run_cli("run " + exp + " --out " + out + " --jobs 1 --threads-per-trial 1");
    INFO(r.out);
    CHECK(r.exit_code == 1);  // the diverged trial is a failed row
    CHECK_THAT(r.out, Catch::Contains("early stopping: 2 trial(s) stopped; 7 trial-epochs of 16 without it (44%)"));
    const std::string csv = slurp(std::filesystem::path(out) / "results.csv");
    CHECK_THAT(csv, Catch::Contains(",lrs,failed,diverged at epoch 1 step") && Catch::Contains(",stopped_at_rung\n"));
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 5);
    const std::string md = slurp(std::filesystem::path(out) / "summary.md");
    CHECK_THAT(md, Catch::Contains("on stage 'lrs': 7 trial-epochs of 16 (44%); 1 trained to the end, 2 stopped, 1 failed"));
    // What the stage cost: 4 trials, the same 7 trial-epochs, minutes of compute and of wall time.
    const auto compute = md.find("## Compute per stage");
    REQUIRE(compute != std::string::npos);
    std::vector<std::string> cells;
    {
        std::stringstream row(md.substr(md.find("| lrs", compute)));
        std::string line, cell;
        std::getline(row, line);
        std::stringstream ss(line);
        while (std::getline(ss, cell, '|')) {
            cell.erase(0, cell.find_first_not_of(' '));
            cell.erase(cell.find_last_not_of(' ') + 1);
            cells.push_back(cell);
        }
    }
    REQUIRE(cells.size() == 6);  // "", stage, trials, trial_epochs, trial_minutes, span_minutes
    CHECK(cells[2] == "4");
    CHECK(cells[3] == "7");
    CHECK(std::stod(cells[4]) >= 0);
    CHECK(std::stod(cells[5]) >= std::stod(cells[4]) - 0.015);  // one job: the wall time holds the compute

    // The trial trained to the end is the same run as without early stopping.
    auto row_of = [](const std::string& text, const std::string& status) {
        std::stringstream ss(text);
        for (std::string line; std::getline(ss, line);)
            if (line.find(",lrs," + status + ",") != std::string::npos) return line;
        return std::string();
    };
    const std::string done = row_of(csv, "done");
    REQUIRE_FALSE(done.empty());
    auto cells_of = [](const std::string& row) {
        std::vector<std::string> cells;
        std::stringstream ss(row);
        for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
        return cells;
    };
    const std::string lr = cells_of(done).at(5);  // trial_id, stage, status, error, net, lr
    const auto plain = dir.write("plain.yaml", defaults + "    grid: {lr: [" + lr + "]}\n");
    REQUIRE(run_cli("run " + plain + " --out " + (dir.path() / "plain").string() + " --jobs 1 --threads-per-trial 1")
                .exit_code == 0);
    const std::string plain_row = row_of(slurp(dir.path() / "plain" / "results.csv"), "done");
    auto metrics = [&](const std::string& row) {  // from params to test_top5: losses, top-1s, epochs
        const auto cells = cells_of(row);
        return std::vector<std::string>(cells.begin() + 7, cells.begin() + 19);
    };
    INFO("trained to the end: lr " << lr);
    CHECK(metrics(done) == metrics(plain_row));

    // Running again takes no decision twice and trains nothing.
    const auto again = run_cli("run " + exp + " --out " + out + " --jobs 1 --threads-per-trial 1");
    CHECK_THAT(again.out, Catch::Contains("es: 0 done, 0 failed, 1 skipped (finished before)"));
    CHECK(slurp(std::filesystem::path(out) / "results.csv") == csv);
}

TEST_CASE("early stopping survives kill -9: no decision taken twice, no trial lost or repeated",
          "[sweep][early_stop][slow]") {
    TempDir dir("sweep-asha-kill");
    const auto exp = asha_experiment(dir, "synthetic:3000", "0.02, 0.05, 0.1, 0.2, 0.3, 0.5");
    const std::string args = " --jobs 1 --threads-per-trial 1";
    const auto whole = (dir.path() / "whole").string(), killed = (dir.path() / "killed").string();
    REQUIRE(run_cli("run " + exp + " --out " + whole + args).exit_code == 0);
    // Killed soon after its first promotion is journaled, then run again to the end.
    const std::string journal = killed + "/journal/local.jsonl";
    const auto k = run_cli("run " + exp + " --out " + killed + args + " >/dev/null 2>&1 & pid=$!; " +
                           "for i in $(seq 1200); do grep -q '\"event\":\"promote\"' " + journal +
                           " 2>/dev/null && break; sleep 0.05; done; sleep 0.3; kill -9 $pid; wait $pid; " +
                           DEEPER_BINARY + " run " + exp + " --out " + killed + args);
    INFO(k.out);
    CHECK(k.exit_code == 0);
    // The decisions (rungs reached, promotions, stops), in order: each once, the same as the
    // uninterrupted run's (one trial at a time: the order is deterministic).
    auto decisions = [](const std::string& text) {
        std::vector<std::string> out;
        std::stringstream ss(text);
        for (std::string line; std::getline(ss, line);)
            for (const char* ev : {"\"event\":\"rung\"", "\"event\":\"promote\"", "\"event\":\"stopped\""})
                if (line.find(ev) != std::string::npos) out.push_back(line.substr(0, line.find(",\"time\"")));
        return out;
    };
    const auto got = decisions(slurp(journal)), expected = decisions(slurp(whole + "/journal/local.jsonl"));
    CHECK(got.size() == expected.size());
    CHECK(std::set<std::string>(got.begin(), got.end()).size() == got.size());
    CHECK(std::set<std::string>(got.begin(), got.end()) == std::set<std::string>(expected.begin(), expected.end()));
    // The same rows: ids, statuses and every metric up to test_top5 (the times differ).
    auto rows = [](const std::string& csv) {
        std::vector<std::string> out;
        std::stringstream ss(csv);
        for (std::string line; std::getline(ss, line);) {
            std::size_t p = 0;
            for (int c = 0; c < 19 && p != std::string::npos; ++c) p = line.find(',', p + 1);
            out.push_back(line.substr(0, p));
        }
        return out;
    };
    CHECK(rows(slurp(killed + "/results.csv")) == rows(slurp(whole + "/results.csv")));
}

TEST_CASE("early stopping across shards: a dead shard's job is adopted, every decision taken once",
          "[sweep][early_stop][slow]") {
    TempDir dir("sweep-asha-shards");
    const auto exp = asha_experiment(dir, "synthetic:6000", "0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3");
    const auto out = (dir.path() / "out").string();
    const std::string run = std::string(DEEPER_BINARY) + " run " + exp + " --out " + out +
                            " --jobs 2 --threads-per-trial 1 --no-report --shard ";
    const std::string second = out + "/journal/shard-1-of-2.jsonl";
    // The second shard is killed just after it began a job; then the first runs the stage alone
    // (two jobs at once: decisions rebuilt while its other job reports) and must adopt that job.
    const auto r = run_cli("run " + exp + " --out " + out + " --jobs 1 --threads-per-trial 1 --no-report --shard 1/2" +
                           " >/dev/null 2>&1 & two=$!; for i in $(seq 1500); do grep -q '\"event\":\"start\"' " +
                           second + " 2>/dev/null && break; sleep 0.02; done; sleep 0.1; kill -9 $two; wait $two; " +
                           run + "0/2 > " + out + ".0.log 2>&1; echo shard0=$?; " + DEEPER_BINARY + " report " + out);
    INFO(r.out << slurp(out + ".0.log"));
    CHECK_THAT(r.out, Catch::Contains("shard0=0"));
    const std::string first_journal = slurp(out + "/journal/shard-0-of-2.jsonl"), second_journal = slurp(second);
    // The killed shard had begun a job; unless it reported before the kill, the survivor finished it.
    const auto start = second_journal.find("\"event\":\"start\",\"trial\":\"");
    REQUIRE(start != std::string::npos);
    const std::size_t id_at = start + 25;
    const std::string orphan = second_journal.substr(id_at, second_journal.find('"', id_at) - id_at);
    const std::string reported = "\"event\":\"rung\",\"trial\":\"" + orphan + "\"";
    INFO("the killed shard's job: " << orphan);
    if (second_journal.find(reported) == std::string::npos) {
        CHECK(first_journal.find(reported) != std::string::npos);
        CHECK(slurp(out + "/journal/claims/lrs/" + orphan + ".rung0") == "shard-0-of-2\n");  // adopted
    }
    // Every decision once across both journals.
    std::map<std::string, int> decisions;
    for (const std::string* text : {&first_journal, &second_journal}) {
        std::stringstream ss(*text);
        for (std::string line; std::getline(ss, line);)
            for (const char* ev : {"\"event\":\"rung\"", "\"event\":\"promote\"", "\"event\":\"stopped\""})
                if (line.find(ev) != std::string::npos) {
                    const auto j = nlohmann::json::parse(line);
                    ++decisions[j.at("event").get<std::string>() + " " + j.at("trial").get<std::string>() + " " +
                                std::to_string(j.value("rung", -1))];
                }
    }
    CHECK_FALSE(decisions.empty());
    for (const auto& [what, n] : decisions) {
        INFO(what);
        CHECK(n == 1);
    }
    // The stage is complete: every trial done or stopped, every epoch trained once.
    const std::string csv = slurp(std::filesystem::path(out) / "results.csv");
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 9);
    CHECK(csv.find(",lrs,done,") != std::string::npos);
    for (const char* status : {",running,", ",paused,", ",interrupted,", ",pending,"}) CHECK(csv.find(status) == std::string::npos);
    std::stringstream curves(slurp(std::filesystem::path(out) / "curves.csv"));
    std::set<std::string> seen;
    std::string line;
    std::getline(curves, line);  // header
    while (std::getline(curves, line)) {  // trial_id, stage, net, setting_lr, epoch, ...
        std::vector<std::string> cells;
        std::stringstream cs(line);
        for (std::string c; std::getline(cs, c, ',');) cells.push_back(c);
        REQUIRE(cells.size() > 4);
        CHECK(seen.insert(cells[0] + "@" + cells[4]).second);
    }
}

TEST_CASE("early stopping: --force on a stage run by shards is refused before anything runs", "[sweep][early_stop]") {
    TempDir dir("sweep-asha-force");
    const auto exp = asha_experiment(dir, "synthetic:300", "0.05, 0.1");
    const auto out = (dir.path() / "out").string();
    const auto r = run_cli("run " + exp + " --out " + out + " --shard 0/2 --force");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.out, Catch::Contains("stage 'lrs': --force cannot re-run an early-stopping stage shard by shard"));
    CHECK_FALSE(std::filesystem::exists(std::filesystem::path(out) / "journal"));
}

TEST_CASE("K trainings at once across stages: an early-stopping stage beside a grid stage never exceeds --jobs",
          "[sweep][early_stop]") {
    TempDir dir("sweep-pool");
    const auto spec = dir.write("net.yaml", kNet);
    const auto exp = dir.write("pool.yaml", "name: pool\nseed: 5\ndefaults: {spec: " + spec +
                                                ", data: 'synthetic:600', val_size: 100, train_eval_size: 100, epochs: 2, "
                                                "batch: 50, augment: false}\nstages:\n"
                                                "  - name: grid\n    grid: {lr: [0.01, 0.02, 0.05]}\n"
                                                "  - name: asha\n    grid: {lr: [0.03, 0.1, 0.3]}\n"
                                                "    early_stop: {method: asha, reduction: 2, min_epochs: 1}\n");
    const auto out = dir.path() / "out";
    const auto r = run_cli("run " + exp + " --out " + out.string() + " --jobs 2 --threads-per-trial 1");
    INFO(r.out);
    REQUIRE(r.exit_code == 0);
    // A job holds its slot from its start event to its last epoch event (both written while it
    // trains; the rung or done event after it may be written once the next job has begun).
    std::ifstream in(out / "journal" / "local.jsonl");
    std::vector<nlohmann::json> ev;
    for (std::string line; std::getline(in, line);) ev.push_back(nlohmann::json::parse(line));
    std::vector<std::pair<std::size_t, std::size_t>> jobs;  // [start, last epoch] in journal order
    std::size_t starts = 0;
    for (std::size_t i = 0; i < ev.size(); ++i) {
        if (ev[i]["event"] != "start") continue;
        ++starts;
        std::size_t last = i;
        for (std::size_t k = i + 1; k < ev.size() && !(ev[k]["event"] == "start" && ev[k]["trial"] == ev[i]["trial"]); ++k)
            if (ev[k]["event"] == "epoch" && ev[k]["trial"] == ev[i]["trial"]) last = k;
        jobs.emplace_back(i, last);
    }
    std::size_t most = 0;
    for (std::size_t at = 0; at < ev.size(); ++at) {
        std::size_t n = 0;
        for (const auto& [a, b] : jobs) n += a <= at && at <= b;
        most = std::max(most, n);
    }
    CHECK(starts >= 6);
    CHECK(most <= 2);
}
