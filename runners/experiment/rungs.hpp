#pragma once
// Successive halving over a stage's trials (Jamieson & Talwalkar 2015; ASHA, Li et al. 2020).
// Rungs at min_epochs * eta^k epochs, the last one at max_epochs; at each rung the best 1/eta
// of the trials that reached it go on to the next. ASHA promotes a trial as soon as it is in
// the top 1/eta of what has reported at its rung (no core waits for a rung to fill); SHA waits
// until every trial that can reach a rung has. When a rung can receive no more trials, at
// least one of it goes on, so every stage ends with a trial trained to full length.
//
// The decisions only: the scheduler runs the jobs and journals every decision, and on resume
// replays the journal into a fresh SuccessiveHalving (started, reached, promoted), so no
// decision is taken twice.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace deeper::runners {

// The epochs of each rung: min_epochs * eta^k below max_epochs, then max_epochs.
std::vector<int> rung_epochs(int min_epochs, int eta, int max_epochs);

struct RungJob {
    std::string trial;
    int rung = 0;    // train until this rung's epochs
    int epochs = 0;
};

class SuccessiveHalving {
public:
    // `trials` in the stage's order (which breaks ties). higher_is_better: accuracy-like metrics.
    SuccessiveHalving(std::vector<std::string> trials, std::vector<int> rung_epochs, int eta, bool synchronous,
                      bool higher_is_better);

    // The next job: the best promotable trial (highest rung first), else a new trial at rung 0;
    // nullopt when nothing can start until a running job reports (or ever: finished()).
    std::optional<RungJob> next();

    // Journal replay and job results. A job's trial `reached` its rung with `metric`;
    // `failed` (a diverged or crashed trial) never goes on but counts at the rung it was
    // heading for, as the worst.
    void started(const std::string& trial);                // a rung-0 job began
    void promoted(const std::string& trial, int to_rung);  // a job to `to_rung` began
    void reached(const std::string& trial, int rung, double metric);
    void failed(const std::string& trial);

    // Whether a job of the trial to `rung` (or beyond) has begun.
    bool began(const std::string& trial, int rung) const;
    // Jobs begun and not reported (after a replay: the ones a kill interrupted).
    std::vector<RungJob> in_flight() const;
    // Nothing running, nothing left to start or promote.
    bool finished() const;
    // Trials that reached a rung below the last and will not go on (meaningful once finished).
    std::vector<std::pair<std::string, int>> stopped() const;
    // Trial-epochs trained so far (the budget spent), and what training every trial fully costs.
    long spent_epochs() const;
    long full_budget() const;
    int rungs() const { return int(epochs_.size()); }

private:
    enum class State { pending, running, waiting, failed, done };
    struct Entry {
        State state = State::pending;
        std::vector<double> metrics;  // at each rung reached
        int heading = -1;             // running: the rung its job trains to; failed: where it failed
        std::size_t order = 0;
    };
    int reached_rungs(const Entry& e) const { return int(e.metrics.size()); }
    // The trials ranked at rung k (best first) and how many reported there (failed included).
    std::vector<const std::string*> ranked(int k, std::size_t& reported) const;
    // No trial can still arrive at rung k.
    bool closed(int k) const;
    std::optional<std::string> promotable(int k) const;
    void begin(const std::string& trial, int rung);

    std::vector<std::string> order_;
    std::map<std::string, Entry> trials_;
    std::vector<int> epochs_;
    int eta_;
    bool synchronous_, higher_;
};

}  // namespace deeper::runners
