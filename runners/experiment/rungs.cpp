#include "runners/experiment/rungs.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace deeper::runners {

std::vector<int> rung_epochs(int min_epochs, int eta, int max_epochs) {
    std::vector<int> r;
    for (long e = std::max(1, min_epochs); e < max_epochs; e *= std::max(2, eta)) r.push_back(int(e));
    r.push_back(max_epochs);
    return r;
}

SuccessiveHalving::SuccessiveHalving(std::vector<std::string> trials, std::vector<int> rung_epochs, int eta,
                                     bool synchronous, bool higher_is_better)
    : order_(std::move(trials)), epochs_(std::move(rung_epochs)), eta_(std::max(2, eta)), synchronous_(synchronous),
      higher_(higher_is_better) {
    for (std::size_t i = 0; i < order_.size(); ++i) trials_[order_[i]].order = i;
}

std::vector<const std::string*> SuccessiveHalving::ranked(int k, std::size_t& reported) const {
    std::vector<const std::string*> out;
    reported = 0;
    for (const auto& id : order_) {
        const Entry& e = trials_.at(id);
        if (reached_rungs(e) > k) {
            out.push_back(&id);
            ++reported;
        } else if (e.state == State::failed && e.heading == k) {
            ++reported;  // counts at the rung, as the worst: never goes on
        }
    }
    // best first; a NaN metric (nothing measured) last; ties keep the stage's order
    std::stable_sort(out.begin(), out.end(), [&](const std::string* a, const std::string* b) {
        const double x = trials_.at(*a).metrics[k], y = trials_.at(*b).metrics[k];
        if (std::isnan(y)) return !std::isnan(x);
        if (std::isnan(x)) return false;
        return higher_ ? x > y : x < y;
    });
    return out;
}

bool SuccessiveHalving::closed(int k) const {
    for (const auto& id : order_) {
        const Entry& e = trials_.at(id);
        if (e.state == State::pending) return false;
        if (e.state == State::running && e.heading <= k) return false;
    }
    for (int j = 0; j < k; ++j)
        if (promotable(j)) return false;
    return true;
}

std::optional<std::string> SuccessiveHalving::promotable(int k) const {
    if (k + 1 >= int(epochs_.size())) return std::nullopt;  // the last rung is the end
    const bool rung_closed = closed(k);
    if (synchronous_ && !rung_closed) return std::nullopt;
    std::size_t reported = 0;
    const auto ranking = ranked(k, reported);
    std::size_t allowed = reported / std::size_t(eta_);
    if (rung_closed) allowed = std::max<std::size_t>(allowed, 1);  // someone trains to full length
    for (std::size_t i = 0; i < std::min(allowed, ranking.size()); ++i) {
        const Entry& e = trials_.at(*ranking[i]);
        if (std::isnan(e.metrics[k])) break;
        if (e.state == State::waiting && reached_rungs(e) == k + 1) return *ranking[i];
    }
    return std::nullopt;
}

void SuccessiveHalving::begin(const std::string& trial, int rung) {
    Entry& e = trials_.at(trial);
    e.state = State::running;
    e.heading = rung;
}

std::optional<RungJob> SuccessiveHalving::next() {
    for (int k = int(epochs_.size()) - 2; k >= 0; --k)
        if (const auto id = promotable(k)) {
            promoted(*id, k + 1);
            return RungJob{*id, k + 1, epochs_[k + 1]};
        }
    for (const auto& id : order_)
        if (trials_.at(id).state == State::pending) {
            started(id);
            return RungJob{id, 0, epochs_[0]};
        }
    return std::nullopt;
}

void SuccessiveHalving::started(const std::string& trial) { begin(trial, 0); }

void SuccessiveHalving::promoted(const std::string& trial, int to_rung) { begin(trial, to_rung); }

void SuccessiveHalving::reached(const std::string& trial, int rung, double metric) {
    Entry& e = trials_.at(trial);
    if (rung != reached_rungs(e)) throw std::logic_error("rung reported out of order for trial " + trial);
    e.metrics.push_back(metric);
    e.state = rung + 1 == int(epochs_.size()) ? State::done : State::waiting;
    e.heading = -1;
}

void SuccessiveHalving::failed(const std::string& trial) {
    Entry& e = trials_.at(trial);
    if (e.heading < 0) e.heading = reached_rungs(e);
    e.state = State::failed;
}

bool SuccessiveHalving::began(const std::string& trial, int rung) const {
    const Entry& e = trials_.at(trial);
    if (reached_rungs(e) > rung) return true;
    return (e.state == State::running || e.state == State::failed) && e.heading >= rung;
}

std::vector<RungJob> SuccessiveHalving::in_flight() const {
    std::vector<RungJob> jobs;
    for (const auto& id : order_) {
        const Entry& e = trials_.at(id);
        if (e.state == State::running) jobs.push_back({id, e.heading, epochs_[e.heading]});
    }
    return jobs;
}

bool SuccessiveHalving::finished() const {
    for (const auto& id : order_) {
        const State s = trials_.at(id).state;
        if (s == State::pending || s == State::running) return false;
    }
    for (int k = 0; k + 1 < int(epochs_.size()); ++k)
        if (promotable(k)) return false;
    return true;
}

std::vector<std::pair<std::string, int>> SuccessiveHalving::stopped() const {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& id : order_) {
        const Entry& e = trials_.at(id);
        if (e.state == State::waiting) out.push_back({id, reached_rungs(e) - 1});
    }
    return out;
}

long SuccessiveHalving::spent_epochs() const {
    long s = 0;
    for (const auto& id : order_) {
        const Entry& e = trials_.at(id);
        if (reached_rungs(e) > 0) s += epochs_[reached_rungs(e) - 1];
    }
    return s;
}

long SuccessiveHalving::full_budget() const { return long(order_.size()) * epochs_.back(); }

}  // namespace deeper::runners
