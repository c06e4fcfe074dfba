#pragma once
// A search space: named dimensions, each a setting (lr, width, ...) or a net file's position
// (net.l1), of one of four kinds: a categorical choice, an integer range with a step, or a
// uniform or log-uniform real range. A point holds one coordinate per dimension: the choice's
// index, the integer, or the real.
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "search/experiment.hpp"

namespace deeper::search {

using Point = std::vector<double>;
using Rng = std::mt19937_64;

class SearchSpace {
public:
    explicit SearchSpace(std::vector<std::pair<std::string, RandomDim>> dims);

    std::size_t dims() const { return dims_.size(); }
    const std::string& name(std::size_t d) const { return dims_[d].first; }
    const RandomDim& dim(std::size_t d) const { return dims_[d].second; }
    bool categorical(std::size_t d) const { return dims_[d].second.kind == "choice"; }
    bool finite() const;
    // How many points (infinite for a real range); exact below 2^53.
    double size() const;
    // How many values dimension d takes (0 for a real range).
    std::size_t values(std::size_t d) const;

    Point sample(Rng& rng) const;
    // The point with one dimension changed to another of its values (a real is redrawn in a
    // neighbourhood of a fifth of its range, in log space for log_uniform).
    Point mutate(const Point& p, Rng& rng) const;
    // The value of dimension d nearest to x, inside the range.
    double clamp(std::size_t d, double x) const;

    // The settings a point stands for: dimension name -> value text.
    Settings settings(const Point& p) const;
    // The point of settings (each dimension's value parsed back); nullopt if one is not in the space.
    std::optional<Point> point_of(const Settings& s) const;
    // The point in canonical text: equal points, equal keys.
    std::string key(const Point& p) const;
    // The i-th point of a finite space in mixed radix (i < size()).
    Point nth(std::uint64_t i) const;

private:
    std::vector<std::pair<std::string, RandomDim>> dims_;
};

}  // namespace deeper::search
