// The tree-structured Parzen estimator as Optuna's TPESampler runs it by default (univariate:
// each dimension sampled on its own).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "search/strategies/strategies.hpp"

namespace deeper::search {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Optuna's default_weights for n points in the order they were observed: flat for the last 25,
// ramped down linearly from there to 1/n for the oldest.
std::vector<double> recency_weights(std::size_t n) {
    std::vector<double> w(n, 1.0);
    if (n < 25) return w;
    const std::size_t ramp = n - 25;
    for (std::size_t i = 0; i < ramp; ++i) w[i] = ramp == 1 ? 1.0 / double(n) : 1.0 / double(n) + (1 - 1.0 / double(n)) * double(i) / double(ramp - 1);
    return w;
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// One dimension's density: a mixture over the observations plus a prior component.
class Parzen {
public:
    // xs: the observations' coordinates (transformed: log for log_uniform), with weights.
    Parzen(const RandomDim& dim, std::size_t values, const std::vector<double>& xs, const std::vector<double>& weights,
           double prior_weight)
        : categorical_(dim.kind == "choice"), integer_(dim.kind == "int"), log_(dim.kind == "log_uniform") {
        const std::size_t n = xs.size();
        mix_ = weights;
        mix_.push_back(prior_weight);
        const double total = std::accumulate(mix_.begin(), mix_.end(), 0.0);
        for (double& w : mix_) w /= total;
        if (categorical_) {  // the mixture of Optuna's kernels, summed into one distribution
            const double floor = prior_weight / double(n + 1);
            probs_.assign(values, 0.0);
            for (std::size_t i = 0; i < n; ++i) {
                const double norm = 1 + floor * double(values);  // the kernel: 1 + floor at x_i, floor elsewhere
                for (std::size_t c = 0; c < values; ++c) probs_[c] += mix_[i] * (floor + (c == std::size_t(xs[i]))) / norm;
            }
            for (std::size_t c = 0; c < values; ++c) probs_[c] += mix_.back() / double(values);  // the prior
            return;
        }
        step_ = integer_ ? double(dim.step) : 0;
        lo_ = log_ ? std::log(dim.lo) : dim.lo - step_ / 2;
        hi_ = log_ ? std::log(dim.hi) : dim.hi + step_ / 2;
        mus_ = xs;
        mus_.push_back(0.5 * (lo_ + hi_));
        // Optuna's bandwidth: the larger gap to a neighbour among the sorted centres (the prior's
        // included), clipped to [range / min(100, 1 + n), range]; the prior's is the range.
        std::vector<std::size_t> order(mus_.size());
        std::iota(order.begin(), order.end(), std::size_t(0));
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return mus_[a] < mus_[b]; });
        sigmas_.assign(mus_.size(), 0);
        const double range = hi_ - lo_, min_sigma = range / std::min(100.0, 1.0 + double(mus_.size()));
        for (std::size_t k = 0; k < order.size(); ++k) {
            const double left = k > 0 ? mus_[order[k]] - mus_[order[k - 1]] : 0;
            const double right = k + 1 < order.size() ? mus_[order[k + 1]] - mus_[order[k]] : 0;
            sigmas_[order[k]] = std::clamp(std::max(left, right), min_sigma, range);
        }
        sigmas_.back() = range;
    }

    // A coordinate drawn from the density (in the dimension's own units).
    double sample(Rng& rng) const {
        if (categorical_) {
            std::discrete_distribution<std::size_t> c(probs_.begin(), probs_.end());
            return double(c(rng));
        }
        std::discrete_distribution<std::size_t> pick(mix_.begin(), mix_.end());
        const std::size_t k = pick(rng);
        std::normal_distribution<double> g(mus_[k], sigmas_[k]);
        double x = g(rng);
        for (int tries = 0; (x < lo_ || x > hi_) && tries < 100; ++tries) x = g(rng);
        x = std::clamp(x, lo_, hi_);
        if (log_) return std::exp(x);
        if (integer_) return lo_ + step_ / 2 + std::round((x - lo_ - step_ / 2) / step_) * step_;
        return x;
    }

    double log_density(double x) const {
        if (categorical_) return std::log(probs_[std::size_t(x)]);
        const double t = log_ ? std::log(x) : x;
        double p = 0;
        for (std::size_t k = 0; k < mix_.size(); ++k) {
            const double z = normal_cdf((hi_ - mus_[k]) / sigmas_[k]) - normal_cdf((lo_ - mus_[k]) / sigmas_[k]);
            if (!(z > 0)) continue;
            if (integer_) {  // the mass of the integer's cell
                p += mix_[k] * (normal_cdf((t + step_ / 2 - mus_[k]) / sigmas_[k]) -
                                normal_cdf((t - step_ / 2 - mus_[k]) / sigmas_[k])) / z;
            } else {
                const double u = (t - mus_[k]) / sigmas_[k];
                p += mix_[k] * std::exp(-0.5 * u * u) / (sigmas_[k] * std::sqrt(2 * M_PI)) / z;
            }
        }
        return p > 0 ? std::log(p) : -kInf;
    }

private:
    bool categorical_, integer_, log_;
    std::vector<double> mix_;
    std::vector<double> probs_;  // categorical: the density itself
    double lo_ = 0, hi_ = 0, step_ = 0;
    std::vector<double> mus_, sigmas_;
};

class Tpe final : public Strategy {
public:
    Tpe(const SearchSpace& space, int startup, int candidates, double prior_weight)
        : space_(space), startup_(std::size_t(startup)), candidates_(candidates), prior_weight_(prior_weight) {}

    Point propose(const std::vector<Observation>& history, Rng& rng) const override {
        std::vector<std::size_t> scored, rest;
        for (std::size_t i = 0; i < history.size(); ++i) (history[i].scored() ? scored : rest).push_back(i);
        if (scored.size() < startup_) return space_.sample(rng);
        const std::vector<std::size_t> ranked = rank_best_first(history, scored);
        const std::size_t n_good = tpe_good_count(scored.size());
        std::vector<bool> good(history.size(), false);
        for (std::size_t k = 0; k < n_good; ++k) good[ranked[k]] = true;
        // Both groups in observation order, each weighted by recency within itself.
        std::vector<std::size_t> below, above;
        for (std::size_t i = 0; i < history.size(); ++i) (good[i] ? below : above).push_back(i);
        const std::vector<double> wb = recency_weights(below.size()), wa = recency_weights(above.size());
        Point p(space_.dims());
        for (std::size_t d = 0; d < space_.dims(); ++d) {
            auto coords = [&](const std::vector<std::size_t>& idx) {
                std::vector<double> xs;
                for (std::size_t i : idx) {
                    double x = history[i].x[d];
                    if (space_.dim(d).kind == "log_uniform") x = std::log(x);
                    xs.push_back(x);
                }
                return xs;
            };
            const Parzen l(space_.dim(d), space_.values(d), coords(below), wb, prior_weight_);
            const Parzen g(space_.dim(d), space_.values(d), coords(above), wa, prior_weight_);
            double best = -kInf, best_x = 0;
            for (int c = 0; c < candidates_; ++c) {
                const double x = space_.clamp(d, l.sample(rng));
                const double score = l.log_density(x) - g.log_density(x);
                if (score > best) best = score, best_x = x;
            }
            p[d] = space_.clamp(d, best_x);
        }
        // reals as their settings print them (SearchSpace keeps points and settings one thing)
        const auto printed = space_.point_of(space_.settings(p));
        return printed ? *printed : p;
    }

private:
    const SearchSpace& space_;
    std::size_t startup_;
    int candidates_;
    double prior_weight_;
};

}  // namespace

std::size_t tpe_good_count(std::size_t n) {  // Optuna's default_gamma
    return std::min<std::size_t>(std::size_t(std::ceil(0.1 * double(n))), 25);
}

std::unique_ptr<Strategy> tpe(const SearchSpace& space, int startup, int candidates, double prior_weight) {
    return std::make_unique<Tpe>(space, startup, candidates, prior_weight);
}

}  // namespace deeper::search
