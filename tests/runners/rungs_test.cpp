// Successive halving against hand-computed cases: rungs, ASHA's and SHA's promotions, ties,
// failed trials, fewer trials than eta, and a replay between two promotions.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "runners/experiment/brackets.hpp"
#include "runners/folder_lock.hpp"
#include "runners/experiment/rung_runner.hpp"
#include "runners/experiment/rungs.hpp"
#include "search/experiment.hpp"
#include "support.hpp"

using deeper::runners::RungJob;
using deeper::runners::rung_epochs;
using deeper::runners::SuccessiveHalving;

namespace {

std::vector<std::string> ids(int n) {
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i) v.push_back("t" + std::to_string(i));
    return v;
}

// One worker: runs each job to its end before asking for the next. The metric of trial i at
// rung k is rung0[i] + 0.05 k (NaN for the trials in `fails`). Returns the jobs in order.
std::vector<std::string> run_one_worker(SuccessiveHalving& sh, const std::vector<double>& rung0,
                                        const std::vector<std::string>& fails = {}, int max_jobs = 1000) {
    std::vector<std::string> log;
    for (int n = 0; n < max_jobs; ++n) {
        const auto job = sh.next();
        if (!job) break;
        log.push_back(job->trial + "@" + std::to_string(job->rung));
        if (std::find(fails.begin(), fails.end(), job->trial) != fails.end()) {
            sh.failed(job->trial);
            continue;
        }
        const int i = std::stoi(job->trial.substr(1));
        sh.reached(job->trial, job->rung, rung0[i] + 0.05 * job->rung);
    }
    return log;
}

const std::vector<double> kNine = {0.5, 0.9, 0.1, 0.8, 0.7, 0.2, 0.6, 0.3, 0.4};

}  // namespace

TEST_CASE("rungs at min_epochs * eta^k, the last at max_epochs", "[rungs]") {
    CHECK(rung_epochs(1, 3, 9) == std::vector<int>{1, 3, 9});
    CHECK(rung_epochs(1, 3, 10) == std::vector<int>{1, 3, 9, 10});
    CHECK(rung_epochs(2, 2, 8) == std::vector<int>{2, 4, 8});
    CHECK(rung_epochs(1, 3, 1) == std::vector<int>{1});
    CHECK(rung_epochs(5, 3, 4) == std::vector<int>{4});
}

TEST_CASE("ASHA promotes the top 1/eta of what has reported, as it arrives", "[rungs]") {
    SuccessiveHalving sh(ids(9), {1, 3, 9}, 3, false, true);
    const auto log = run_one_worker(sh, kNine);
    // After 3 reports at rung 0 the best (t1) goes on; after 6, the second best (t3); after 9,
    // the third (t4); with 3 at rung 1, its best (t1) trains to the end.
    CHECK(log == std::vector<std::string>{"t0@0", "t1@0", "t2@0", "t1@1", "t3@0", "t4@0", "t5@0", "t3@1", "t6@0",
                                          "t7@0", "t8@0", "t4@1", "t1@2"});
    CHECK(sh.finished());
    const auto stopped = sh.stopped();
    CHECK(stopped == std::vector<std::pair<std::string, int>>{
                         {"t0", 0}, {"t2", 0}, {"t3", 1}, {"t4", 1}, {"t5", 0}, {"t6", 0}, {"t7", 0}, {"t8", 0}});
    CHECK(sh.spent_epochs() == 6 * 1 + 2 * 3 + 9);  // 21 of 81
    CHECK(sh.full_budget() == 81);
}

TEST_CASE("SHA waits for the whole rung, then promotes its top 1/eta", "[rungs]") {
    SuccessiveHalving sh(ids(9), {1, 3, 9}, 3, true, true);
    const auto log = run_one_worker(sh, kNine);
    CHECK(log == std::vector<std::string>{"t0@0", "t1@0", "t2@0", "t3@0", "t4@0", "t5@0", "t6@0", "t7@0", "t8@0",
                                          "t1@1", "t3@1", "t4@1", "t1@2"});
    CHECK(sh.finished());
}

TEST_CASE("lower-is-better metrics rank the other way", "[rungs]") {
    SuccessiveHalving sh(ids(3), {1, 3}, 3, true, false);
    const auto log = run_one_worker(sh, {0.5, 0.9, 0.1});
    CHECK(log == std::vector<std::string>{"t0@0", "t1@0", "t2@0", "t2@1"});
}

TEST_CASE("fewer trials than eta: once the rung is closed its best still goes on", "[rungs]") {
    SuccessiveHalving sh(ids(2), {1, 3, 9}, 3, false, true);
    const auto log = run_one_worker(sh, {0.3, 0.6});
    CHECK(log == std::vector<std::string>{"t0@0", "t1@0", "t1@1", "t1@2"});
    CHECK(sh.stopped() == std::vector<std::pair<std::string, int>>{{"t0", 0}});
}

TEST_CASE("failed trials count at their rung as the worst and never go on", "[rungs]") {
    // t1 would be the best, but it diverges at rung 0: t0 goes on. A stage where every
    // trial but one fails still ends with that one trained to full length.
    SuccessiveHalving sh(ids(3), {1, 3}, 3, false, true);
    const auto log = run_one_worker(sh, {0.5, 0.9, 0.1}, {"t1"});
    CHECK(log == std::vector<std::string>{"t0@0", "t1@0", "t2@0", "t0@1"});
    SuccessiveHalving all_fail(ids(3), {1, 3}, 3, false, true);
    CHECK(run_one_worker(all_fail, {0.5, 0.9, 0.1}, {"t0", "t1", "t2"}) ==
          std::vector<std::string>{"t0@0", "t1@0", "t2@0"});
    CHECK(all_fail.finished());
    CHECK(all_fail.stopped().empty());
}

TEST_CASE("ties go to the earlier trial of the stage", "[rungs]") {
    SuccessiveHalving sh(ids(3), {1, 3}, 3, true, true);
    CHECK(run_one_worker(sh, {0.7, 0.7, 0.7}) == std::vector<std::string>{"t0@0", "t1@0", "t2@0", "t0@1"});
}

TEST_CASE("a replay of the journal between two promotions takes the same decisions", "[rungs]") {
    SuccessiveHalving whole(ids(9), {1, 3, 9}, 3, false, true);
    const auto expected = run_one_worker(whole, kNine);

    // The first 8 jobs run; the 8th (t3 to rung 1) is killed before it reports.
    SuccessiveHalving first(ids(9), {1, 3, 9}, 3, false, true);
    std::vector<std::string> log = run_one_worker(first, kNine, {}, 7);
    const auto killed = first.next();
    REQUIRE(killed);
    CHECK(killed->trial + "@" + std::to_string(killed->rung) == "t3@1");

    // What the journal holds, replayed into a fresh one: starts, promotions, rungs reached.
    SuccessiveHalving replay(ids(9), {1, 3, 9}, 3, false, true);
    for (const auto& entry : log) {
        const std::string id = entry.substr(0, entry.find('@'));
        const int rung = std::stoi(entry.substr(entry.find('@') + 1));
        if (rung == 0) replay.started(id);
        else replay.promoted(id, rung);
        replay.reached(id, rung, kNine[std::stoi(id.substr(1))] + 0.05 * rung);
    }
    replay.promoted("t3", 1);
    const auto again = replay.in_flight();
    REQUIRE(again.size() == 1);
    CHECK(again[0].trial == "t3");
    CHECK(again[0].rung == 1);
    CHECK(again[0].epochs == 3);
    log.push_back("t3@1");
    replay.reached("t3", 1, kNine[3] + 0.05);
    const auto rest = run_one_worker(replay, kNine);
    log.insert(log.end(), rest.begin(), rest.end());
    CHECK(log == expected);
}

TEST_CASE("a stage's replay keeps a promotion journaled just before a kill, and takes no decision twice",
          "[rungs][early_stop]") {
    using namespace deeper;
    const search::Experiment e = search::parse_experiment(
        "name: t\ndefaults: {epochs: 3}\nstages:\n  - name: s\n    grid: {lr: [0.1, 0.2, 0.3]}\n"
        "    early_stop: {reduction: 3, min_epochs: 1}\n",
        "exp.yaml");
    const auto trials = search::expand(e, e.stages[0]);
    // Journal so far: all three reached rung 0; the best was promoted, then the process died
    // before its job started.
    std::vector<runners::TrialRecord> records(3);
    for (int i = 0; i < 3; ++i) {
        records[i].id = trials[i].id;
        records[i].stage = "s";
        records[i].status = "paused";
        records[i].rungs = {{0, 0.5 - 0.1 * i}};
    }
    records[0].promoted_to = 1;
    deeper::test::TempDir dir("rung-replay");
    std::vector<std::string> jobs;
    {
        runners::Journal journal(dir.path().string(), "local");
        runners::RungStage stage{e.stages[0], trials, records, 1, nullptr, journal,
                                 [&](const search::Trial& t, int pause_after) {
                                     jobs.push_back(t.id + "/" + std::to_string(pause_after));
                                     runners::TrialEnd end;
                                     end.outcome = runners::TrialOutcome::done;
                                     end.last = runners::EpochMetrics{};
                                     end.last->val_top1 = 0.9;
                                     return end;
                                 },
                                 nullptr, "", {}};
        const auto sum = runners::run_rung_stage(stage);
        CHECK(sum.done == 1);
        CHECK(sum.stopped == 2);
    }
    CHECK(jobs == std::vector<std::string>{trials[0].id + "/0"});  // to the end, and only it
    const std::string journal = deeper::test::slurp(dir.path() / "journal" / "local.jsonl");
    CHECK(journal.find("\"event\":\"promote\"") == std::string::npos);  // the decision stood
    CHECK(journal.find("\"event\":\"stopped\",\"trial\":\"" + trials[1].id + "\",\"rung\":0") != std::string::npos);
}

TEST_CASE("Hyperband deals the trials to brackets in the proportions n_s, interleaved", "[rungs]") {
    using deeper::runners::plan_brackets;
    // min 1, eta 3, max 9: s_max = 2, n_s = 9, 5, 3 (Li et al.'s ceil((s_max+1)/(s+1) eta^s)).
    const auto b = plan_brackets("hyperband", ids(17), 1, 3, 9);
    REQUIRE(b.size() == 3);
    CHECK(b[0].trials.size() == 9);
    CHECK(b[1].trials.size() == 5);
    CHECK(b[2].trials.size() == 3);
    CHECK(b[0].rung_epochs == std::vector<int>{1, 3, 9});
    CHECK(b[1].rung_epochs == std::vector<int>{3, 9});
    CHECK(b[2].rung_epochs == std::vector<int>{9});
    // Four trials: the largest deficit of 9/17, 5/17, 3/17 per trial dealt picks 0, 1, 0, 2.
    const auto four = plan_brackets("hyperband", ids(4), 1, 3, 9);
    REQUIRE(four.size() == 3);
    CHECK(four[0].trials == std::vector<std::string>{"t0", "t2"});
    CHECK(four[1].trials == std::vector<std::string>{"t1"});
    CHECK(four[2].trials == std::vector<std::string>{"t3"});
    // asha and sha: one bracket of everything.
    const auto one = plan_brackets("asha", ids(5), 1, 3, 9);
    REQUIRE(one.size() == 1);
    CHECK(one[0].trials == ids(5));
}

TEST_CASE("Hyperband: each bracket halves synchronously; the budget by hand", "[rungs]") {
    using deeper::runners::Brackets;
    Brackets hb(deeper::runners::plan_brackets("hyperband", ids(17), 1, 3, 9), 3, true, true);
    std::map<std::string, int> reached_epochs;
    for (int n = 0; n < 1000; ++n) {
        const auto job = hb.next();
        if (!job) break;
        reached_epochs[job->trial] = job->epochs;
        hb.reached(job->trial, job->rung, double(std::stoi(job->trial.substr(1))));  // later trials are better
    }
    CHECK(hb.finished());
    // Bracket 0 (9 trials from 1 epoch): 6 stop at 1, 2 at 3, 1 trains 9: 21 epochs. Bracket 1
    // (5 from 3 epochs): 4 stop at 3, 1 trains 9: 21. Bracket 2 (3 at 9): 27.
    CHECK(hb.spent_epochs() == 21 + 21 + 27);
    CHECK(hb.full_budget() == 17 * 9);
    int full = 0;
    for (const auto& [t, e] : reached_epochs) full += e == 9;
    CHECK(full == 1 + 1 + 3);
    CHECK(hb.stopped().size() == 17 - 5);
}

TEST_CASE("early stopping across shards under injected delays: no job twice or at once, the stage completes",
          "[rungs][early_stop][shards]") {
    using namespace deeper;
    const search::Experiment e = search::parse_experiment(
        "name: t\ndefaults: {epochs: 4}\nstages:\n  - name: s\n    grid: {lr: [0.01, 0.02, 0.03, 0.05, 0.1, 0.2]}\n"
        "    early_stop: {method: asha, reduction: 2, min_epochs: 1}\n",
        "exp.yaml");
    const auto trials = search::expand(e, e.stages[0]);
    const std::vector<std::string> points = {"locked", "read", "claimed", "reporting", "train"};
    for (unsigned round = 0; round < 15; ++round) {
        deeper::test::TempDir dir("rung-stress");
        const std::string out = dir.path().string();
        std::filesystem::create_directories(dir.path() / "journal");
        std::mutex m;
        std::map<std::string, int> running;        // trial -> shards training it now
        std::map<std::string, int> jobs;           // "trial@pause" -> times run
        bool overlap = false;
        // Each shard as a thread: its own journal, journal lock and claims, a fake trainer that
        // journals as run_trial does, and a delay drawn at every decision point.
        auto shard = [&](int index) {
            const std::string name = "shard-" + std::to_string(index) + "-of-2";
            const runners::FolderLock lock(out + "/journal/" + name + ".lock", name);
            runners::Journal journal(out, name);
            const runners::RungClaims claims(out, "s", name);
            std::mt19937 rng(round * 2 + unsigned(index));
            auto delay = [&](const char*) {
                std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
            };
            runners::RungStage stage{e.stages[0], trials, {}, 1, nullptr, journal,
                                     [&](const search::Trial& t, int pause_after) {
                                         {
                                             std::lock_guard l(m);
                                             overlap = overlap || running[t.id]++ > 0;
                                             ++jobs[t.id + "@" + std::to_string(pause_after)];
                                         }
                                         journal.append({{"event", "start"}, {"trial", t.id}, {"stage", "s"}});
                                         delay("train");
                                         const int epochs = pause_after > 0 ? pause_after : 4;
                                         runners::EpochMetrics last;
                                         last.epoch = epochs;
                                         last.val_top1 = std::stod(t.settings.at("lr")) + 0.01 * epochs;
                                         journal.append({{"event", "epoch"}, {"trial", t.id},
                                                         {"metrics", {{"epoch", epochs}, {"val_top1", last.val_top1}}}});
                                         runners::TrialEnd end;
                                         end.last = last;
                                         end.outcome = pause_after > 0 ? runners::TrialOutcome::paused : runners::TrialOutcome::done;
                                         if (pause_after == 0) journal.append({{"event", "done"}, {"trial", t.id}});
                                         std::lock_guard l(m);
                                         --running[t.id];
                                         return end;
                                     },
                                     &claims, out, delay};
            runners::run_rung_stage(stage);
        };
        std::thread other(shard, 1);
        shard(0);
        other.join();
        INFO("round " << round);
        CHECK_FALSE(overlap);
        for (const auto& [job, n] : jobs) {
            INFO(job);
            CHECK(n == 1);
        }
        int done = 0, stopped = 0;
        for (const auto& r : runners::read_journals(out)) {
            done += r.status == "done";
            stopped += r.status == "stopped";
        }
        CHECK(done >= 1);
        CHECK(done + stopped == 6);
    }
}
