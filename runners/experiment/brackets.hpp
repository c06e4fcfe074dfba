#pragma once
// The early-stopping methods as one or more successive halvings ("brackets") over a stage's
// trials. asha and sha: one bracket, every trial starting at the first rung. hyperband (Li et
// al., JMLR 2018): brackets from the most aggressive (rungs from min_epochs) to none (every
// trial of the last bracket trains to max_epochs), each a synchronous successive halving; the
// stage's trials are dealt to them in the proportions of Hyperband's n_s =
// ceil((s_max + 1) / (s + 1) * eta^s), interleaved in the stage's order so that no bracket gets
// one corner of a grid.
#include <string>
#include <vector>

#include "runners/experiment/rungs.hpp"

namespace deeper::runners {

struct Bracket {
    std::vector<std::string> trials;
    std::vector<int> rung_epochs;
};

// The brackets of a method ("asha", "sha" or "hyperband") over `trials` in the stage's order.
std::vector<Bracket> plan_brackets(const std::string& method, const std::vector<std::string>& trials, int min_epochs,
                                   int eta, int max_epochs);

// Several successive halvings as one: the same calls as SuccessiveHalving, each sent to the
// trial's bracket; next() offers the brackets' jobs in bracket order.
class Brackets {
public:
    Brackets(const std::vector<Bracket>& plan, int eta, bool synchronous, bool higher_is_better);

    std::optional<RungJob> next();
    void started(const std::string& trial) { of(trial).started(trial); }
    void promoted(const std::string& trial, int to_rung) { of(trial).promoted(trial, to_rung); }
    void reached(const std::string& trial, int rung, double metric) { of(trial).reached(trial, rung, metric); }
    void failed(const std::string& trial) { of(trial).failed(trial); }
    bool began(const std::string& trial, int rung) const { return of(trial).began(trial, rung); }
    std::vector<RungJob> in_flight() const;
    bool finished() const;
    std::vector<std::pair<std::string, int>> stopped() const;
    long spent_epochs() const;
    long full_budget() const;
    // The trial's bracket's rungs: how many, and the epochs of each.
    const std::vector<int>& rung_epochs(const std::string& trial) const;

private:
    SuccessiveHalving& of(const std::string& trial) { return halvings_.at(bracket_of_.at(trial)); }
    const SuccessiveHalving& of(const std::string& trial) const { return halvings_.at(bracket_of_.at(trial)); }

    std::vector<SuccessiveHalving> halvings_;
    std::vector<std::vector<int>> epochs_;
    std::map<std::string, std::size_t> bracket_of_;
};

}  // namespace deeper::runners
