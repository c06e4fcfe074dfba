#include "runners/experiment/rung_runner.hpp"

#include <cmath>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

#include "runners/experiment/brackets.hpp"
#include "runners/train/epoch_metrics.hpp"
#include "search/metrics.hpp"

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

// One stage under early stopping: the decisions, the workers that take jobs from them, and the
// journal of what they decide.
class RungStageRun {
public:
    explicit RungStageRun(const RungStage& s)
        : s_(s), es_(*s.stage.early_stop), records_(s.records) {
        for (const auto& t : s.trials) {
            ids_.push_back(t.id);
            trial_of_[t.id] = &t;
        }
        id_set_.insert(ids_.begin(), ids_.end());
        for (const auto& r : records_) sum_.skipped += id_set_.count(r.id) && r.status == "done";
        const int max_epochs = es_.max_epochs > 0 ? es_.max_epochs : s.trials.front().config().epochs;
        plan_ = plan_brackets(es_.method, ids_, es_.min_epochs, es_.reduction, max_epochs);
        sh_ = decisions();
        if (!s.claims)
            for (const auto& j : sh_->in_flight()) resumed_.push_back(j);
    }

    RungSummary run() {
        std::vector<std::thread> pool;
        for (int w = 1; w < std::max(1, s_.workers); ++w) pool.emplace_back([this] { work(); });
        work();
        for (auto& t : pool) t.join();
        if (s_.claims && !stopping()) {  // the final decisions, from every shard's state
            const auto guard = s_.claims->lock();
            refresh_from_files();
            journal_stopped();
        } else {
            journal_stopped();
        }
        sum_.spent_epochs = sh_->spent_epochs();
        sum_.full_epochs = sh_->full_budget();
        return sum_;
    }

private:
    bool stopping() const { return s_.stop && s_.stop->load(); }

    Brackets decisions() const {
        Brackets sh(plan_, es_.reduction, es_.method != "asha", !search::lower_is_better(es_.metric));
        replay(sh, s_.trials, records_, es_.metric);
        return sh;
    }

    // With claims: the decisions from every shard's journal and claims (under their lock).
    std::map<std::pair<std::string, int>, std::string> refresh_from_files() {
        records_ = read_journals(s_.results_dir);
        sh_ = decisions();
        auto claims = s_.claims->read();
        apply_claims(*sh_, claims, id_set_);
        return claims;
    }

    void journal_promotion(const RungJob& j) {
        if (j.rung > 0)
            s_.journal.append({{"event", "promote"}, {"trial", j.trial}, {"stage", s_.stage.name}, {"rung", j.rung},
                               {"epochs", j.epochs}});
    }

    // With claims: this shard's own unfinished jobs (a requeued task) or a dead shard's, else
    // the next job; claimed before the lock is let go.
    std::optional<RungJob> take_shared() {
        const auto guard = s_.claims->lock();
        point("locked");
        const auto claims = refresh_from_files();
        point("read");
        for (const auto& j : sh_->in_flight()) {
            if (here_.count(j.trial)) continue;
            const auto it = claims.find({j.trial, j.rung});
            if (it != claims.end() && it->second != s_.claims->shard() && s_.claims->alive(it->second)) continue;
            s_.claims->claim(j.trial, j.rung);
            point("claimed");
            return j;
        }
        auto j = sh_->next();
        if (j) {
            s_.claims->claim(j->trial, j->rung);
            point("claimed");
            journal_promotion(*j);
        }
        return j;
    }

    void point(const char* name) const {
        if (s_.at_point) s_.at_point(name);
    }

    // Under the lock: the next job, or nullopt when the stage is over (or stopping).
    std::optional<RungJob> take(std::unique_lock<std::mutex>& l) {
        for (;;) {
            if (stopping()) return std::nullopt;
            if (s_.claims) {
                if (auto j = take_shared()) return j;
                if (sh_->finished()) return std::nullopt;
                cv_.wait_for(l, std::chrono::seconds(1));  // other shards' results come through the files
                continue;
            }
            if (!resumed_.empty()) {
                RungJob j = resumed_.front();
                resumed_.pop_front();
                return j;
            }
            if (auto j = sh_->next()) {
                journal_promotion(*j);
                return j;
            }
            if (running_ == 0) return std::nullopt;
            cv_.wait(l);
        }
    }

    // A job killed after its rung's last epoch and before the rung's report trains nothing when
    // it runs again: the metric is the epoch's, from the journal.
    double journaled(const std::string& id, int epochs) const {
        for (const auto& r : records_)
            if (r.id == id && int(r.epochs.size()) >= epochs) return epoch_metric(r.epochs[std::size_t(epochs) - 1], es_.metric);
        return NAN;
    }

    // Under the lock: a job's end into the journal and (alone) the decisions. With claims the
    // decisions are rebuilt from the journals before the next one, which may already show this
    // job's end, so only the journal is written.
    void report(const RungJob& job, const TrialEnd& end) {
        const double metric = end.last ? epoch_metric_of(*end.last, es_.metric) : journaled(job.trial, job.epochs);
        const bool local = !s_.claims;
        point("reporting");
        switch (end.outcome) {
            case TrialOutcome::paused:
                s_.journal.append({{"event", "rung"}, {"trial", job.trial}, {"rung", job.rung}, {"epochs", job.epochs},
                                   {"metric", metric}});
                if (local) sh_->reached(job.trial, job.rung, metric);
                break;
            case TrialOutcome::done:
                if (local) sh_->reached(job.trial, job.rung, metric);
                ++sum_.done;
                break;
            case TrialOutcome::failed:
                if (local) sh_->failed(job.trial);
                ++sum_.failed;
                break;
            case TrialOutcome::interrupted: ++sum_.interrupted; break;
        }
    }

    void work() {
        std::unique_lock l(m_);
        while (const auto job = take(l)) {
            ++running_;
            here_.insert(job->trial);
            const bool last = job->rung + 1 == int(sh_->rung_epochs(job->trial).size());
            l.unlock();
            const TrialEnd end = s_.run(*trial_of_.at(job->trial), last ? 0 : job->epochs);
            l.lock();
            --running_;
            here_.erase(job->trial);
            report(*job, end);
            cv_.notify_all();
        }
        cv_.notify_all();
    }

    // The trials that will not go on, journaled once (with claims: from the final state of all
    // shards, so whichever ends last writes what the others have not).
    void journal_stopped() {
        if (stopping() || !sh_->finished()) return;
        std::map<std::string, std::string> status;
        for (const auto& r : records_) status[r.id] = r.status;
        for (const auto& [id, rung] : sh_->stopped()) {
            ++sum_.stopped;
            if (status[id] != "stopped")
                s_.journal.append({{"event", "stopped"}, {"trial", id}, {"rung", rung},
                                   {"epochs", sh_->rung_epochs(id)[std::size_t(rung)]}});
        }
    }

    const RungStage& s_;
    const search::EarlyStop& es_;
    std::vector<std::string> ids_;
    std::set<std::string> id_set_;
    std::map<std::string, const search::Trial*> trial_of_;
    std::vector<Bracket> plan_;
    std::vector<TrialRecord> records_;  // with claims: re-read at each decision
    std::optional<Brackets> sh_;
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<RungJob> resumed_;
    int running_ = 0;
    std::set<std::string> here_;  // trials with a job running in this process
    RungSummary sum_;
};

}  // namespace

RungSummary run_rung_stage(const RungStage& s) {
    if (s.trials.empty()) return {};
    return RungStageRun(s).run();
}

}  // namespace deeper::runners
