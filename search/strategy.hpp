#pragma once
// Search strategies: each proposes the next point from the history of what was observed, so a
// search is a pure function of its seed and its history (the runner derives each proposal's
// random numbers from the seed and the proposal's number).
//
// What each learns from the history:
//   random     nothing (draws uniformly; the runner skips points already seen).
//   evolution  regularized evolution (Real et al. 2019), asynchronous: the population is the
//              last `population` evaluated points in the order they finished (age-based removal);
//              a proposal mutates one dimension of the best of `tournament` members drawn from
//              it. Until the population is full, proposals are random.
//   tpe        the tree-structured Parzen estimator (Bergstra et al. 2011) with Optuna's
//              defaults: 10 random start-up points, the best gamma(n) = min(ceil(n / 10), 25)
//              as "good", 24 candidates per dimension drawn from the good density, the one with
//              the highest good / bad ratio kept; Optuna's weights (older points ramped down
//              past 25) and prior weight 1; categorical kernels as Optuna's, reals and integers
//              as truncated Gaussians with its bandwidth rule ("magic clip").
// With several objectives, "best" is the non-dominated rank, ties broken by crowding distance
// (larger first): evolution's tournament and TPE's split (Optuna's MOTPE breaks the tie by
// hypervolume contribution instead). Failed points count as worse than every evaluated one;
// points a constraint refused are never evaluated and count, for TPE, among the bad (so it
// learns where the constraint bites); evolution never keeps them.
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "search/pareto.hpp"
#include "search/space.hpp"

namespace deeper::search {

struct Observation {
    Point x;
    Losses losses;          // one per objective, lower is better; empty for failed or infeasible
    bool feasible = true;   // false: a constraint refused it before evaluation
    bool evaluated() const { return feasible; }
    bool scored() const { return feasible && !losses.empty(); }
};

struct StrategyOptions {
    std::string name = "random";  // random | evolution | tpe
    int population = 20, tournament = 5;               // evolution
    int startup = 10, candidates = 24;                 // tpe
    double prior_weight = 1.0;                         // tpe
};

class Strategy {
public:
    virtual ~Strategy() = default;
    virtual Point propose(const std::vector<Observation>& history, Rng& rng) const = 0;
};

// TPE's number of "good" points among n scored ones (Optuna's default gamma).
std::size_t tpe_good_count(std::size_t n);

std::unique_ptr<Strategy> make_strategy(const StrategyOptions& o, const SearchSpace& space);

// The indices of `members` best first: by loss with one objective; by non-dominated rank then
// crowding distance (within `members`) with several; unscored ones last, in their order.
std::vector<std::size_t> rank_best_first(const std::vector<Observation>& history, std::vector<std::size_t> members);

// A proposal not among `seen` (keys of SearchSpace::key): the strategy's, asked up to 20 times;
// then random walks from its last choice (the nearest unseen points); then uniform draws; then,
// in a finite space, a random unseen point. nullopt when the space has no point left.
std::optional<Point> propose_unseen(const Strategy& strategy, const SearchSpace& space,
                                    const std::vector<Observation>& history, const std::set<std::string>& seen, Rng& rng);

}  // namespace deeper::search
