#include "search/strategy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "nets/error.hpp"
#include "search/strategies/strategies.hpp"

namespace deeper::search {

std::unique_ptr<Strategy> make_strategy(const StrategyOptions& o, const SearchSpace& space) {
    if (o.name == "random") return random_search(space);
    if (o.name == "evolution") return regularized_evolution(space, o.population, o.tournament);
    if (o.name == "tpe") return tpe(space, o.startup, o.candidates, o.prior_weight);
    throw InputError(fmt::format("unknown strategy '{}' (random, evolution, tpe)", o.name));
}

std::vector<std::size_t> rank_best_first(const std::vector<Observation>& history, std::vector<std::size_t> members) {
    std::vector<std::size_t> scored, unscored;
    for (std::size_t i : members) (history[i].scored() ? scored : unscored).push_back(i);
    if (!scored.empty() && history[scored[0]].losses.size() == 1) {
        std::stable_sort(scored.begin(), scored.end(),
                         [&](std::size_t a, std::size_t b) { return history[a].losses[0] < history[b].losses[0]; });
    } else if (!scored.empty()) {
        std::vector<Losses> points;
        for (std::size_t i : scored) points.push_back(history[i].losses);
        const std::vector<int> rank = nondominated_ranks(points);
        std::vector<double> crowding(scored.size());
        for (int r = 0; r <= *std::max_element(rank.begin(), rank.end()); ++r) {
            std::vector<std::size_t> front;
            for (std::size_t j = 0; j < scored.size(); ++j)
                if (rank[j] == r) front.push_back(j);
            const std::vector<double> d = crowding_distances(points, front);
            for (std::size_t k = 0; k < front.size(); ++k) crowding[front[k]] = d[k];
        }
        std::vector<std::size_t> order(scored.size());
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return rank[a] != rank[b] ? rank[a] < rank[b] : crowding[a] > crowding[b];
        });
        std::vector<std::size_t> sorted;
        for (std::size_t j : order) sorted.push_back(scored[j]);
        scored = std::move(sorted);
    }
    scored.insert(scored.end(), unscored.begin(), unscored.end());
    return scored;
}

std::optional<Point> propose_unseen(const Strategy& strategy, const SearchSpace& space,
                                    const std::vector<Observation>& history, const std::set<std::string>& seen, Rng& rng) {
    Point last;
    for (int attempt = 0; attempt < 20; ++attempt) {
        last = strategy.propose(history, rng);
        if (!seen.count(space.key(last))) return last;
    }
    // The strategy keeps choosing what it has seen (it has converged): the nearest unseen
    // points, by random walks from its choice, before uniform draws.
    for (int attempt = 0; attempt < 200; ++attempt) {
        Point p = last;
        for (int step = 0; step <= attempt / 20; ++step) p = space.mutate(p, rng);
        if (!seen.count(space.key(p))) return p;
    }
    for (int attempt = 0; attempt < 1000; ++attempt) {
        Point p = space.sample(rng);
        if (!seen.count(space.key(p))) return p;
    }
    if (!space.finite() || space.size() > 1e7) return std::nullopt;  // effectively exhausted: said by the caller
    std::vector<std::uint64_t> unseen;
    for (std::uint64_t i = 0; i < std::uint64_t(space.size()); ++i)
        if (!seen.count(space.key(space.nth(i)))) unseen.push_back(i);
    if (unseen.empty()) return std::nullopt;
    return space.nth(unseen[rng() % unseen.size()]);
}

}  // namespace deeper::search
