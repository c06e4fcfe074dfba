// A search shared by shards, in one process with each shard a thread (its own journal, journal
// lock and claims), so the order of events is forced rather than hoped for: a shard that dies
// holding the last job leaves the live one waiting for it, which then adopts it.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "runners/experiment/journal.hpp"
#include "runners/experiment/rung_claims.hpp"
#include "runners/experiment/search_runner.hpp"
#include "runners/folder_lock.hpp"
#include "search/experiment.hpp"
#include "support.hpp"

using namespace deeper;

namespace {

// A trial's start event, as run_trial journals it (what the trial is: its settings and labels).
void journal_start(runners::Journal& journal, const search::Trial& t) {
    journal.append({{"event", "start"}, {"trial", t.id}, {"stage", t.stage}, {"settings", t.settings}, {"labels", t.labels}});
}

// Journals a trial as run_trial does, trained to its end: val_top1 = lr.
runners::TrialEnd train_at_once(runners::Journal& journal, const search::Trial& t) {
    journal_start(journal, t);
    runners::EpochMetrics last;
    last.epoch = 1;
    last.val_top1 = std::stod(t.settings.at("lr"));
    journal.append({{"event", "epoch"}, {"trial", t.id}, {"metrics", {{"epoch", 1}, {"val_top1", last.val_top1}}}});
    journal.append({{"event", "done"}, {"trial", t.id}});
    runners::TrialEnd end;
    end.outcome = runners::TrialOutcome::done;
    end.last = last;
    end.metrics["val_top1"] = last.val_top1;
    return end;
}

}  // namespace

TEST_CASE("a shard that dies holding the search's last job: the live one waits for it, adopts it, and completes",
          "[search][shards]") {
    const search::Experiment e = search::parse_experiment(
        "name: t\ndefaults: {net: resnet8, data: synthetic, epochs: 1}\nstages:\n  - name: s\n    search:\n"
        "      space:\n        lr: {choice: [0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.3]}\n"
        "      strategy: random\n      budget: 6\n",
        "exp.yaml");
    test::TempDir dir("search-adopt-last");
    const std::string out = dir.path().string();
    std::filesystem::create_directories(dir.path() / "journal");

    std::mutex m;
    std::condition_variable changed;
    bool dying_trains = false;
    int live_done = 0;
    std::string dying_trial;

    // Shard 1 claims the first proposal, holds it until shard 0 has done every other, then dies
    // (its trainer throws; its journal lock is released as a killed process's is).
    auto dying = std::make_unique<runners::FolderLock>(out + "/journal/shard-1-of-2.lock", "shard-1-of-2");
    runners::Journal dying_journal(out, "shard-1-of-2");
    const runners::RungClaims dying_claims(out, "s", "shard-1-of-2");
    runners::SearchStageRun dying_run{e, e.stages[0], {}, dying_journal};
    dying_run.claims = &dying_claims;
    dying_run.results_dir = out;
    dying_run.run = [&](const search::Trial& t, int) -> runners::TrialEnd {
        journal_start(dying_journal, t);
        std::unique_lock l(m);
        dying_trial = t.id;
        dying_trains = true;
        changed.notify_all();
        changed.wait(l, [&] { return live_done == 5; });
        l.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the live shard is waiting by now
        throw std::runtime_error("killed");
    };
    std::thread shard1([&] {
        CHECK_THROWS_WITH(runners::run_search_stage(dying_run), "killed");
        dying.reset();
    });
    {
        std::unique_lock l(m);
        changed.wait(l, [&] { return dying_trains; });
    }

    const runners::FolderLock live(out + "/journal/shard-0-of-2.lock", "shard-0-of-2");
    runners::Journal live_journal(out, "shard-0-of-2");
    const runners::RungClaims live_claims(out, "s", "shard-0-of-2");
    runners::SearchStageRun live_run{e, e.stages[0], {}, live_journal};
    live_run.claims = &live_claims;
    live_run.results_dir = out;
    std::vector<std::string> trained;
    live_run.run = [&](const search::Trial& t, int) {
        const runners::TrialEnd end = train_at_once(live_journal, t);
        std::lock_guard l(m);
        trained.push_back(t.id);
        ++live_done;
        changed.notify_all();
        return end;
    };
    const runners::SearchSummary sum = runners::run_search_stage(live_run);
    shard1.join();

    CHECK(sum.evaluated == 6);
    REQUIRE(trained.size() == 6);
    CHECK(trained.back() == dying_trial);  // adopted last, after the wait
    int done = 0;
    for (const auto& r : runners::read_journals(out)) done += r.status == "done";
    CHECK(done == 6);
}
