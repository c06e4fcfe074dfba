#pragma once
// Asynchronous successive halving (ASHA, Li et al. 2020) over a search's proposals, which
// arrive as the search goes rather than as a list known up front, ranked on one or several
// objectives: a proposal trains to the first rung; a trial that reported at rung k goes on to
// rung k+1 as soon as it is among the best floor(n_k / eta) of the n_k that reported there (one
// objective: by loss; several: by non-dominated rank, then crowding distance: multi-objective
// ASHA). When no proposal is left and nothing runs, the best of the highest rung that sent
// nobody on goes on, so every search ends with a trial trained to full length.
//
// The decisions only: the search runner trains the jobs, journals each rung reached
// ("rung", with the objectives' losses) and each promotion ("promote"), and on a rerun replays
// them here.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "search/pareto.hpp"

namespace deeper::runners {

class SearchRungs {
public:
    SearchRungs(std::vector<int> rung_epochs, int eta) : epochs_(std::move(rung_epochs)), eta_(eta) {}

    int rungs() const { return int(epochs_.size()); }
    int epochs(int rung) const { return epochs_.at(std::size_t(rung)); }

    // A job of the trial to `rung` began (rung 0: a new proposal; above: a promotion).
    void begin(const std::string& trial, int rung);
    void reached(const std::string& trial, int rung, search::Losses losses);  // empty losses: NaN, ranked last
    void failed(const std::string& trial);
    // A job that will not report in this run (interrupted): no longer running.
    void halted(const std::string& trial);

    // The next promotion (trial, to rung), the best first; `closing`: no proposal will come and
    // nothing runs.
    std::optional<std::pair<std::string, int>> promotion(bool closing) const;
    bool running() const;
    // Trials that reached a rung below the last and did not go on, with that rung.
    std::vector<std::pair<std::string, int>> stopped() const;
    // The losses at the highest rung the trial reached (empty: none yet, or failed).
    search::Losses latest(const std::string& trial) const;
    // Trial-epochs trained (to the rungs reached, or to a failure's rung).
    long spent_epochs() const;

private:
    struct Entry {
        std::vector<search::Losses> at;  // per rung reached
        int heading = 0;                 // the rung of its current or last job
        bool running = false, failed = false;
        std::size_t order = 0;           // first begun: breaks ties
    };
    std::vector<std::string> ranked_at(int k) const;  // reported at rung k, best first (failed last)

    std::vector<int> epochs_;
    int eta_;
    std::map<std::string, Entry> trials_;
};

}  // namespace deeper::runners
