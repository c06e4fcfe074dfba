#include "runners/experiment/rung_runner.hpp"

#include <cmath>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "runners/experiment/brackets.hpp"
#include "runners/train/epoch_metrics.hpp"

namespace deeper::runners {

namespace {

// The journal so far, replayed into the decisions: each trial's rungs (with the promotions
// that sent it there), its end, and the job a kill interrupted.
void replay(Brackets& sh, const std::vector<search::Trial>& trials, const std::vector<TrialRecord>& records,
            const std::string& metric) {
    std::map<std::string, const TrialRecord*> by_id;
    for (const auto& r : records) by_id[r.id] = &r;
    for (const auto& t : trials) {
        const auto it = by_id.find(t.id);
        if (it == by_id.end() || it->second->status == "pending") continue;
        const TrialRecord& r = *it->second;
        sh.started(t.id);
        for (const auto& [rung, value] : r.rungs) {
            if (rung > 0) sh.promoted(t.id, rung);
            sh.reached(t.id, rung, value);
        }
        const int next = int(r.rungs.size());
        if (r.status == "done") {  // the rungs it passed without a rung event (trained before early_stop was set)
            const auto& rungs = sh.rung_epochs(t.id);
            for (int k = next; k < int(rungs.size()); ++k) {
                if (k > 0) sh.promoted(t.id, k);
                const std::size_t e = std::size_t(rungs[std::size_t(k)]);
                sh.reached(t.id, k, e <= r.epochs.size() ? epoch_metric(r.epochs[e - 1], metric) : NAN);
            }
        } else if (r.status == "failed") {
            if (r.promoted_to > next - 1 && next > 0) sh.promoted(t.id, r.promoted_to);
            sh.failed(t.id);
        } else if (r.promoted_to == next && next > 0) {
            sh.promoted(t.id, next);  // promoted (the decision stands), then killed before the rung
        }
    }
}

// Claims whose job the journals do not show yet (it was claimed a moment ago, or its shard died
// before its first event): the job has begun all the same.
void apply_claims(Brackets& sh, const std::map<std::pair<std::string, int>, std::string>& claims,
                  const std::set<std::string>& trials) {
    for (const auto& [key, owner] : claims) {
        const auto& [trial, rung] = key;
        if (!trials.count(trial) || sh.began(trial, rung)) continue;
        if (rung == 0) sh.started(trial);
        else sh.promoted(trial, rung);
    }
}

}  // namespace

RungSummary run_rung_stage(const RungStage& s) {
    const search::EarlyStop& es = *s.stage.early_stop;
    std::vector<std::string> ids;
    std::map<std::string, const search::Trial*> trial_of;
    for (const auto& t : s.trials) {
        ids.push_back(t.id);
        trial_of[t.id] = &t;
    }
    RungSummary sum;
    if (s.trials.empty()) return sum;
    const int max_epochs = es.max_epochs > 0 ? es.max_epochs : s.trials.front().config().epochs;
    const std::vector<Bracket> plan = plan_brackets(es.method, ids, es.min_epochs, es.reduction, max_epochs);
    const std::set<std::string> id_set(ids.begin(), ids.end());
    auto decisions = [&](const std::vector<TrialRecord>& records) {
        Brackets sh(plan, es.reduction, es.method != "asha", !lower_is_better(es.metric));
        replay(sh, s.trials, records, es.metric);
        return sh;
    };
    std::vector<TrialRecord> records = s.records;  // with claims: re-read at each decision
    Brackets sh = decisions(records);

    std::mutex m;
    std::condition_variable cv;
    std::deque<RungJob> resumed;
    if (!s.claims)
        for (const auto& j : sh.in_flight()) resumed.push_back(j);
    int running = 0;
    std::set<std::string> here;  // trials with a job running in this process
    // A job killed after its rung's last epoch and before the rung's report trains nothing when
    // it runs again: the metric is the epoch's, from the journal.
    auto journaled = [&](const std::string& id, int epochs) {
        for (const auto& r : records)
            if (r.id == id && int(r.epochs.size()) >= epochs) return epoch_metric(r.epochs[std::size_t(epochs) - 1], es.metric);
        return double(NAN);
    };
    auto stopping = [&] { return s.stop && s.stop->load(); };
    auto journal_promotion = [&](const RungJob& j) {
        if (j.rung > 0)
            s.journal.append({{"event", "promote"}, {"trial", j.trial}, {"stage", s.stage.name}, {"rung", j.rung},
                              {"epochs", j.epochs}});
    };
    // With claims, under both locks: the decisions from every shard's journal and claims; then
    // this shard's own unfinished jobs (a requeued task) or a dead shard's, else the next job.
    auto take_shared = [&]() -> std::optional<RungJob> {
        const auto guard = s.claims->lock();
        records = read_journals(s.results_dir);
        sh = decisions(records);
        const auto claims = s.claims->read();
        apply_claims(sh, claims, id_set);
        for (const auto& j : sh.in_flight()) {
            if (here.count(j.trial)) continue;
            const auto it = claims.find({j.trial, j.rung});
            if (it != claims.end() && it->second != s.claims->shard() && s.claims->alive(it->second)) continue;
            s.claims->claim(j.trial, j.rung);
            return j;
        }
        auto j = sh.next();
        if (j) {
            s.claims->claim(j->trial, j->rung);
            journal_promotion(*j);
        }
        return j;
    };
    // Under the lock: the next job, or nullopt when the stage is over (or stopping).
    auto take = [&](std::unique_lock<std::mutex>& l) -> std::optional<RungJob> {
        for (;;) {
            if (stopping()) return std::nullopt;
            if (s.claims) {
                if (auto j = take_shared()) return j;
                if (sh.finished()) return std::nullopt;
                cv.wait_for(l, std::chrono::seconds(1));  // other shards' results come through the files
                continue;
            }
            if (!resumed.empty()) {
                RungJob j = resumed.front();
                resumed.pop_front();
                return j;
            }
            if (auto j = sh.next()) {
                journal_promotion(*j);
                return j;
            }
            if (running == 0) return std::nullopt;
            cv.wait(l);
        }
    };
    auto worker = [&] {
        std::unique_lock l(m);
        while (const auto job = take(l)) {
            ++running;
            here.insert(job->trial);
            l.unlock();
            const bool last = job->rung + 1 == int(sh.rung_epochs(job->trial).size());
            const TrialEnd end = s.run(*trial_of.at(job->trial), last ? 0 : job->epochs);
            l.lock();
            --running;
            here.erase(job->trial);
            const double metric = end.last ? epoch_metric_of(*end.last, es.metric) : journaled(job->trial, job->epochs);
            // With claims the decisions are rebuilt from the journals before the next one (which
            // may already show this job's end), so only the journal is written here.
            const bool local = !s.claims;
            switch (end.outcome) {
                case TrialOutcome::paused:
                    s.journal.append({{"event", "rung"}, {"trial", job->trial}, {"rung", job->rung},
                                      {"epochs", job->epochs}, {"metric", metric}});
                    if (local) sh.reached(job->trial, job->rung, metric);
                    break;
                case TrialOutcome::done:
                    if (local) sh.reached(job->trial, job->rung, metric);
                    ++sum.done;
                    break;
                case TrialOutcome::failed:
                    if (local) sh.failed(job->trial);
                    ++sum.failed;
                    break;
                case TrialOutcome::interrupted: ++sum.interrupted; break;
            }
            cv.notify_all();
        }
        cv.notify_all();
    };
    std::vector<std::thread> pool;
    for (int w = 1; w < std::max(1, s.workers); ++w) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();

    // The trials that will not go on, journaled once (with claims: whichever shard ends last, from
    // the final state of all of them).
    auto journal_stopped = [&] {
        if (stopping() || !sh.finished()) return;
        std::map<std::string, std::string> status;
        for (const auto& r : records) status[r.id] = r.status;
        for (const auto& [id, rung] : sh.stopped()) {
            ++sum.stopped;
            if (status[id] != "stopped")
                s.journal.append({{"event", "stopped"}, {"trial", id}, {"rung", rung}, {"epochs", sh.rung_epochs(id)[std::size_t(rung)]}});
        }
    };
    if (s.claims && !stopping()) {
        const auto guard = s.claims->lock();
        records = read_journals(s.results_dir);
        sh = decisions(records);
        apply_claims(sh, s.claims->read(), id_set);
        journal_stopped();
    } else {
        journal_stopped();
    }
    sum.spent_epochs = sh.spent_epochs();
    sum.full_epochs = sh.full_budget();
    return sum;
}

}  // namespace deeper::runners
