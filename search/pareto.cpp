#include "search/pareto.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace deeper::search {

bool dominates(const Losses& a, const Losses& b) {
    bool better = false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] > b[i]) return false;
        better |= a[i] < b[i];
    }
    return better;
}

std::vector<int> nondominated_ranks(const std::vector<Losses>& points) {
    const std::size_t n = points.size();
    std::vector<int> rank(n, -1), dominated_by(n, 0);
    std::vector<std::vector<std::size_t>> dominates_list(n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) {
            if (dominates(points[i], points[j])) dominates_list[i].push_back(j), ++dominated_by[j];
            else if (dominates(points[j], points[i])) dominates_list[j].push_back(i), ++dominated_by[i];
        }
    std::vector<std::size_t> front;
    for (std::size_t i = 0; i < n; ++i)
        if (dominated_by[i] == 0) front.push_back(i);
    for (int r = 0; !front.empty(); ++r) {
        std::vector<std::size_t> next;
        for (std::size_t i : front) {
            rank[i] = r;
            for (std::size_t j : dominates_list[i])
                if (--dominated_by[j] == 0) next.push_back(j);
        }
        front = std::move(next);
    }
    return rank;
}

std::vector<double> crowding_distances(const std::vector<Losses>& points, const std::vector<std::size_t>& members) {
    const std::size_t m = members.size();
    std::vector<double> d(m, 0);
    if (m == 0) return d;
    const std::size_t objectives = points[members[0]].size();
    std::vector<std::size_t> order(m);
    for (std::size_t k = 0; k < objectives; ++k) {
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return points[members[a]][k] < points[members[b]][k]; });
        const double lo = points[members[order.front()]][k], hi = points[members[order.back()]][k];
        d[order.front()] = d[order.back()] = std::numeric_limits<double>::infinity();
        if (!(hi > lo)) continue;
        for (std::size_t i = 1; i + 1 < m; ++i)
            d[order[i]] += (points[members[order[i + 1]]][k] - points[members[order[i - 1]]][k]) / (hi - lo);
    }
    return d;
}

namespace {

// The volume dominated by points (all strictly better than ref in every objective), over the
// first `k` objectives.
double slice_volume(std::vector<Losses> points, const Losses& ref, std::size_t k) {
    if (points.empty()) return 0;
    if (k == 1) {
        double best = ref[0];
        for (const auto& p : points) best = std::min(best, p[0]);
        return ref[0] - best;
    }
    // Slices along objective k-1: between consecutive values, the points at or below the slice
    // dominate a (k-1)-dimensional volume.
    std::sort(points.begin(), points.end(), [&](const Losses& a, const Losses& b) { return a[k - 1] < b[k - 1]; });
    double volume = 0;
    std::vector<Losses> below;
    for (std::size_t i = 0; i < points.size(); ++i) {
        below.push_back(points[i]);
        const double top = i + 1 < points.size() ? points[i + 1][k - 1] : ref[k - 1];
        const double depth = top - points[i][k - 1];
        if (depth > 0) volume += depth * slice_volume(below, ref, k - 1);
    }
    return volume;
}

}  // namespace

double hypervolume(std::vector<Losses> points, const Losses& reference) {
    std::erase_if(points, [&](const Losses& p) {
        if (p.size() != reference.size()) return true;
        for (std::size_t i = 0; i < p.size(); ++i)
            if (!(p[i] < reference[i]) || !std::isfinite(p[i])) return true;  // NaN too
        return false;
    });
    if (points.empty()) return 0;
    // Only the non-dominated points add volume; dropping the rest keeps the slicing small.
    const std::vector<int> rank = nondominated_ranks(points);
    std::vector<Losses> front;
    for (std::size_t i = 0; i < points.size(); ++i)
        if (rank[i] == 0) front.push_back(points[i]);
    return slice_volume(std::move(front), reference, reference.size());
}

}  // namespace deeper::search
