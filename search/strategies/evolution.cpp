#include <algorithm>

#include "search/strategies/strategies.hpp"

namespace deeper::search {

namespace {

class RegularizedEvolution final : public Strategy {
public:
    RegularizedEvolution(const SearchSpace& space, int population, int tournament)
        : space_(space), population_(std::size_t(population)), tournament_(std::size_t(tournament)) {}

    Point propose(const std::vector<Observation>& history, Rng& rng) const override {
        // The population: the last `population` evaluated points, oldest first (ageing).
        std::vector<std::size_t> evaluated;
        for (std::size_t i = 0; i < history.size(); ++i)
            if (history[i].evaluated()) evaluated.push_back(i);
        if (evaluated.size() < population_) return space_.sample(rng);
        const std::vector<std::size_t> population(evaluated.end() - std::ptrdiff_t(population_), evaluated.end());
        // The tournament: distinct members drawn uniformly, the best of them the parent.
        std::vector<std::size_t> pick(population.size());
        for (std::size_t i = 0; i < pick.size(); ++i) pick[i] = i;
        const std::size_t t = std::min(tournament_, pick.size());
        for (std::size_t i = 0; i < t; ++i) std::swap(pick[i], pick[i + rng() % (pick.size() - i)]);
        std::vector<std::size_t> contestants;
        for (std::size_t i = 0; i < t; ++i) contestants.push_back(population[pick[i]]);
        // Several objectives: the ranks are within the population, not the tournament alone.
        const std::vector<std::size_t> order = rank_best_first(history, population);
        const std::size_t parent = *std::min_element(contestants.begin(), contestants.end(), [&](std::size_t a, std::size_t b) {
            return std::find(order.begin(), order.end(), a) < std::find(order.begin(), order.end(), b);
        });
        return space_.mutate(history[parent].x, rng);
    }

private:
    const SearchSpace& space_;
    std::size_t population_, tournament_;
};

}  // namespace

std::unique_ptr<Strategy> regularized_evolution(const SearchSpace& space, int population, int tournament) {
    return std::make_unique<RegularizedEvolution>(space, population, tournament);
}

}  // namespace deeper::search
