#pragma once
// The strategies behind make_strategy (search/strategy.hpp), one per file.
#include <memory>

#include "search/strategy.hpp"

namespace deeper::search {

std::unique_ptr<Strategy> random_search(const SearchSpace& space);
std::unique_ptr<Strategy> regularized_evolution(const SearchSpace& space, int population, int tournament);
std::unique_ptr<Strategy> tpe(const SearchSpace& space, int startup, int candidates, double prior_weight);

}  // namespace deeper::search
