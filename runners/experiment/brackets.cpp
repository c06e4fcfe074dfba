#include "runners/experiment/brackets.hpp"

#include <cmath>

namespace deeper::runners {

namespace {

// Hyperband's n_s for s = s_max .. 0: the relative number of trials of each bracket.
std::vector<double> hyperband_weights(int s_max, int eta) {
    std::vector<double> w;
    for (int s = s_max; s >= 0; --s) w.push_back(std::ceil(double(s_max + 1) / (s + 1) * std::pow(eta, s)));
    return w;
}

}  // namespace

std::vector<Bracket> plan_brackets(const std::string& method, const std::vector<std::string>& trials, int min_epochs,
                                   int eta, int max_epochs) {
    const std::vector<int> rungs = rung_epochs(min_epochs, eta, max_epochs);
    if (method != "hyperband") return {{trials, rungs}};
    const int s_max = int(rungs.size()) - 1;
    std::vector<Bracket> brackets;
    for (int b = 0; b <= s_max; ++b) brackets.push_back({{}, std::vector<int>(rungs.begin() + b, rungs.end())});
    // Deal each trial to the bracket furthest below its share so far (the stage's order mixed).
    const std::vector<double> w = hyperband_weights(s_max, eta);
    double total = 0;
    for (double x : w) total += x;
    for (std::size_t i = 0; i < trials.size(); ++i) {
        std::size_t pick = 0;
        double most = -1e300;
        for (std::size_t b = 0; b < brackets.size(); ++b) {
            const double deficit = w[b] / total * double(i + 1) - double(brackets[b].trials.size());
            if (deficit > most + 1e-12) most = deficit, pick = b;
        }
        brackets[pick].trials.push_back(trials[i]);
    }
    std::erase_if(brackets, [](const Bracket& b) { return b.trials.empty(); });
    return brackets;
}

Brackets::Brackets(const std::vector<Bracket>& plan, int eta, bool synchronous, bool higher_is_better) {
    for (std::size_t b = 0; b < plan.size(); ++b) {
        halvings_.emplace_back(plan[b].trials, plan[b].rung_epochs, eta, synchronous, higher_is_better);
        epochs_.push_back(plan[b].rung_epochs);
        for (const auto& t : plan[b].trials) bracket_of_[t] = b;
    }
}

std::optional<RungJob> Brackets::next() {
    for (auto& h : halvings_)
        if (auto j = h.next()) return j;
    return std::nullopt;
}

std::vector<RungJob> Brackets::in_flight() const {
    std::vector<RungJob> out;
    for (const auto& h : halvings_)
        for (auto& j : h.in_flight()) out.push_back(j);
    return out;
}

bool Brackets::finished() const {
    for (const auto& h : halvings_)
        if (!h.finished()) return false;
    return true;
}

std::vector<std::pair<std::string, int>> Brackets::stopped() const {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& h : halvings_)
        for (auto& s : h.stopped()) out.push_back(s);
    return out;
}

long Brackets::spent_epochs() const {
    long n = 0;
    for (const auto& h : halvings_) n += h.spent_epochs();
    return n;
}

long Brackets::full_budget() const {
    long n = 0;
    for (const auto& h : halvings_) n += h.full_budget();
    return n;
}

const std::vector<int>& Brackets::rung_epochs(const std::string& trial) const {
    return epochs_.at(bracket_of_.at(trial));
}

}  // namespace deeper::runners
