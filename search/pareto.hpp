#pragma once
// Several objectives at once: non-dominated sorting and crowding distance (Deb et al. 2002,
// NSGA-II) and the hypervolume a front dominates. Every point is a vector of losses, each
// objective turned so that lower is better.
#include <cstddef>
#include <vector>

namespace deeper::search {

using Losses = std::vector<double>;

// a dominates b: no worse in every objective, better in one.
bool dominates(const Losses& a, const Losses& b);

// Each point's front: 0 for the non-dominated ones, 1 for those only they dominate, and so on.
// Equal points share a rank.
std::vector<int> nondominated_ranks(const std::vector<Losses>& points);

// The crowding distance of each of `members` (indices into points, usually one front): the
// perimeter of the box its neighbours span in each objective, normalized by the objective's
// range; the extremes are infinite.
std::vector<double> crowding_distances(const std::vector<Losses>& points, const std::vector<std::size_t>& members);

// The volume the points dominate up to the reference point (points not better than it in every
// objective add nothing). Exact; the slicing (HSO) algorithm, fine for fronts of hundreds.
double hypervolume(std::vector<Losses> points, const Losses& reference);

}  // namespace deeper::search
