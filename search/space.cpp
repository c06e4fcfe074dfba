#include "search/space.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "nets/error.hpp"

namespace deeper::search {

namespace {

double uniform01(Rng& rng) { return std::uniform_real_distribution<double>(0, 1)(rng); }

std::string real_text(double v) { return fmt::format("{:.6g}", v); }
// A real as its trial setting prints it, so that a point and its settings are one thing.
double printed(double v) { return std::stod(real_text(v)); }

}  // namespace

SearchSpace::SearchSpace(std::vector<std::pair<std::string, RandomDim>> dims) : dims_(std::move(dims)) {}

std::size_t SearchSpace::values(std::size_t d) const {
    const RandomDim& x = dim(d);
    if (x.kind == "choice") return x.choices.size();
    if (x.kind == "int") return std::size_t((std::int64_t(x.hi) - std::int64_t(x.lo)) / x.step + 1);
    return 0;
}

bool SearchSpace::finite() const {
    for (std::size_t d = 0; d < dims(); ++d)
        if (values(d) == 0) return false;
    return true;
}

double SearchSpace::size() const {
    double n = 1;
    for (std::size_t d = 0; d < dims(); ++d) n *= values(d) ? double(values(d)) : INFINITY;
    return n;
}

double SearchSpace::clamp(std::size_t d, double x) const {
    const RandomDim& r = dim(d);
    if (r.kind == "choice") return std::clamp(std::round(x), 0.0, double(r.choices.size() - 1));
    if (r.kind == "int") {
        const double k = std::clamp(std::round((x - r.lo) / double(r.step)), 0.0, double(values(d) - 1));
        return r.lo + k * double(r.step);
    }
    return std::clamp(x, r.lo, r.hi);
}

Point SearchSpace::sample(Rng& rng) const {
    Point p(dims());
    for (std::size_t d = 0; d < dims(); ++d) {
        const RandomDim& r = dim(d);
        if (r.kind == "choice") p[d] = double(rng() % r.choices.size());
        else if (r.kind == "int") p[d] = r.lo + double(rng() % values(d)) * double(r.step);
        else if (r.kind == "uniform") p[d] = printed(r.lo + uniform01(rng) * (r.hi - r.lo));
        else p[d] = printed(std::exp(std::log(r.lo) + uniform01(rng) * (std::log(r.hi) - std::log(r.lo))));
    }
    return p;
}

Point SearchSpace::mutate(const Point& p, Rng& rng) const {
    // Only dimensions that can change: a one-valued choice cannot.
    std::vector<std::size_t> movable;
    for (std::size_t d = 0; d < dims(); ++d)
        if (values(d) != 1) movable.push_back(d);
    Point q = p;
    if (movable.empty()) return q;
    const std::size_t d = movable[rng() % movable.size()];
    const RandomDim& r = dim(d);
    if (r.kind == "choice" || r.kind == "int") {
        const std::size_t n = values(d), at = std::size_t(r.kind == "choice" ? p[d] : (p[d] - r.lo) / double(r.step));
        const std::size_t other = (at + 1 + rng() % (n - 1)) % n;  // any value but the current one
        q[d] = r.kind == "choice" ? double(other) : r.lo + double(other) * double(r.step);
    } else {
        const bool log = r.kind == "log_uniform";
        const double lo = log ? std::log(r.lo) : r.lo, hi = log ? std::log(r.hi) : r.hi;
        const double x = log ? std::log(p[d]) : p[d];
        const double y = std::clamp(x + (uniform01(rng) - 0.5) * 0.4 * (hi - lo), lo, hi);
        q[d] = printed(std::clamp(log ? std::exp(y) : y, r.lo, r.hi));
    }
    return q;
}

Settings SearchSpace::settings(const Point& p) const {
    Settings s;
    for (std::size_t d = 0; d < dims(); ++d) {
        const RandomDim& r = dim(d);
        if (r.kind == "choice") s[name(d)] = r.choices.at(std::size_t(p[d]));
        else if (r.kind == "int") s[name(d)] = std::to_string(std::int64_t(std::llround(p[d])));
        else s[name(d)] = real_text(p[d]);
    }
    return s;
}

std::optional<Point> SearchSpace::point_of(const Settings& s) const {
    Point p(dims());
    for (std::size_t d = 0; d < dims(); ++d) {
        const auto it = s.find(name(d));
        if (it == s.end()) return std::nullopt;
        const RandomDim& r = dim(d);
        if (r.kind == "choice") {
            const auto c = std::find(r.choices.begin(), r.choices.end(), it->second);
            if (c == r.choices.end()) return std::nullopt;
            p[d] = double(c - r.choices.begin());
            continue;
        }
        try {
            std::size_t used = 0;
            p[d] = std::stod(it->second, &used);
            if (used != it->second.size()) return std::nullopt;
        } catch (const std::exception&) {
            return std::nullopt;
        }
        if (r.kind == "int" && clamp(d, p[d]) != p[d]) return std::nullopt;
        if (p[d] < r.lo || p[d] > r.hi) return std::nullopt;
    }
    return p;
}

std::string SearchSpace::key(const Point& p) const {
    std::string k;
    for (const auto& [name, value] : settings(p)) k += name + "=" + value + ";";
    return k;
}

Point SearchSpace::nth(std::uint64_t i) const {
    Point p(dims());
    for (std::size_t d = dims(); d-- > 0;) {
        const std::uint64_t n = values(d);
        const std::uint64_t at = i % n;
        i /= n;
        p[d] = dim(d).kind == "choice" ? double(at) : dim(d).lo + double(at) * double(dim(d).step);
    }
    return p;
}

}  // namespace deeper::search
