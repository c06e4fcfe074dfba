#pragma once
// A search stage's objectives and constraints evaluated on a trial's metrics: each objective's
// value (MnasNet's reward computed from its metric and cost), the same as losses (lower is
// better) for the strategies and the Pareto ranks, and the first constraint a trial breaks.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "search/experiment.hpp"
#include "search/pareto.hpp"

namespace deeper::search {

// A trial's metric by name; NAN when it has none.
using MetricLookup = std::function<double(const std::string&)>;

// ACC x (COST / target)^w; hard: w = 0 at or below the target, -1 above.
double mnasnet_reward(const Reward& r, double metric, double cost);

// One value per objective (the reward for a reward search); NAN where a metric is missing.
std::vector<double> objective_values(const SearchSpec& s, const MetricLookup& metric);
// The values as losses; empty when one is not finite (a failed trial).
Losses objective_losses(const SearchSpec& s, const std::vector<double>& values);

// The metrics known before evaluation that constraints, a reward's cost and objectives need
// (params, macs).
std::vector<std::string> cost_metrics(const SearchSpec& s);
// "macs 71,237,632 > max_macs 60,000,000", or nullopt when every constraint holds.
std::optional<std::string> broken_constraint(const SearchSpec& s, const MetricLookup& metric);

}  // namespace deeper::search
