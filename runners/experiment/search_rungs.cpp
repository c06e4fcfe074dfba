#include "runners/experiment/search_rungs.hpp"

#include <algorithm>
#include <numeric>

#include "search/strategy.hpp"

namespace deeper::runners {

void SearchRungs::begin(const std::string& trial, int rung) {
    auto [it, fresh] = trials_.try_emplace(trial);
    if (fresh) it->second.order = trials_.size();
    it->second.heading = rung;
    it->second.running = true;
}

void SearchRungs::reached(const std::string& trial, int rung, search::Losses losses) {
    Entry& e = trials_.at(trial);
    e.at.resize(std::size_t(rung) + 1);
    e.at[std::size_t(rung)] = std::move(losses);
    e.running = false;
}

void SearchRungs::failed(const std::string& trial) {
    Entry& e = trials_.at(trial);
    e.failed = true;
    e.running = false;
}

void SearchRungs::halted(const std::string& trial) { trials_.at(trial).running = false; }

std::vector<std::string> SearchRungs::ranked_at(int k) const {
    // The observations at rung k, as a search history the strategies' ranking reads.
    std::vector<search::Observation> h;
    std::vector<std::string> names;
    std::vector<std::pair<std::size_t, const std::string*>> by_order;
    for (const auto& [name, e] : trials_)
        if (int(e.at.size()) > k || (e.failed && e.heading == k)) by_order.emplace_back(e.order, &name);
    std::sort(by_order.begin(), by_order.end());
    for (const auto& [order, name] : by_order) {
        const Entry& e = trials_.at(*name);
        h.push_back({{}, int(e.at.size()) > k ? e.at[std::size_t(k)] : search::Losses{}, true});
        names.push_back(*name);
    }
    std::vector<std::size_t> all(h.size());
    std::iota(all.begin(), all.end(), std::size_t(0));
    std::vector<std::string> out;
    for (std::size_t i : search::rank_best_first(h, all)) out.push_back(names[i]);
    return out;
}

std::optional<std::pair<std::string, int>> SearchRungs::promotion(bool closing) const {
    for (int k = rungs() - 2; k >= 0; --k) {  // the highest rung first: finish what is furthest on
        const std::vector<std::string> ranked = ranked_at(k);
        const std::size_t allowed = ranked.size() / std::size_t(eta_);
        for (std::size_t i = 0; i < ranked.size() && i < allowed; ++i) {
            const Entry& e = trials_.at(ranked[i]);
            if (!e.failed && !e.running && e.heading == k && !e.at[std::size_t(k)].empty()) return {{ranked[i], k + 1}};
        }
    }
    if (!closing) return std::nullopt;
    for (int k = rungs() - 2; k >= 0; --k) {
        const bool sent_on = std::any_of(trials_.begin(), trials_.end(), [&](const auto& t) { return t.second.heading > k; });
        if (sent_on) continue;
        for (const auto& name : ranked_at(k)) {
            const Entry& e = trials_.at(name);
            if (!e.failed && !e.at[std::size_t(k)].empty()) return {{name, k + 1}};
        }
    }
    return std::nullopt;
}

bool SearchRungs::running() const {
    return std::any_of(trials_.begin(), trials_.end(), [](const auto& t) { return t.second.running; });
}

std::vector<std::pair<std::string, int>> SearchRungs::stopped() const {
    std::vector<std::pair<std::string, int>> out;
    for (const auto& [name, e] : trials_)
        if (!e.failed && !e.running && !e.at.empty() && int(e.at.size()) < rungs() && e.heading == int(e.at.size()) - 1)
            out.emplace_back(name, int(e.at.size()) - 1);
    return out;
}

search::Losses SearchRungs::latest(const std::string& trial) const {
    const auto it = trials_.find(trial);
    if (it == trials_.end() || it->second.failed || it->second.at.empty()) return {};
    return it->second.at.back();
}

long SearchRungs::spent_epochs() const {
    long n = 0;
    for (const auto& [name, e] : trials_) {
        const int last = e.failed ? e.heading : int(e.at.size()) - 1;
        if (last >= 0) n += epochs(last);
    }
    return n;
}

}  // namespace deeper::runners
