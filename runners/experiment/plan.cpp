#include "runners/experiment/plan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "nets/error.hpp"
#include "runners/engine/precision.hpp"
#include "runners/memory_budget.hpp"
#include "runners/train/trainer.hpp"

namespace deeper::runners {

const data::TrainTest& DataCache::get(const std::string& spec) {
    auto it = sets_.find(spec);
    if (it == sets_.end()) it = sets_.emplace(spec, data::load(spec)).first;
    return it->second;
}

std::string describe(const search::Trial& t) {
    std::string s;
    for (const auto& k : t.swept)  // a list stage's items need not all set every swept key
        if (const auto it = t.settings.find(k); it != t.settings.end()) s += (s.empty() ? "" : " ") + k + "=" + it->second;
    for (const auto& [k, v] : t.labels) s += (s.empty() ? "" : " ") + k + "=" + v;
    return s.empty() ? t.id : s;
}

namespace {

std::string no_trials_reason(const search::Stage& s) {
    if (s.kind != search::Stage::Kind::compound_search) return "";
    const auto& c = s.compound;
    return fmt::format(": no (alpha, beta, gamma) on its grid has {} within {} of the target {}",
                       c.by_macs ? "a MAC ratio" : "alpha * beta^2 * gamma^2", c.tolerance, c.target);
}

// Early stopping's last rung is where every trial ends: max_epochs when given, else the
// trials' epochs, which must then agree (a trial of 4 epochs under max_epochs 100 would end
// before its rungs do, and be counted done and stopped at once).
void refuse_uneven_budgets(const std::string& where, const search::EarlyStop& es, const std::vector<PlannedTrial>& trials) {
    const int last = es.max_epochs > 0 ? es.max_epochs : trials.front().config.epochs;
    for (const auto& p : trials)
        if (p.config.epochs != last)
            throw InputError(fmt::format("{}: trial {} trains {} epochs, but early stopping's last rung is at {} ({}); "
                                         "give every trial of the stage the same epochs{}",
                                         where, describe(p.trial), p.config.epochs, last,
                                         es.max_epochs > 0 ? "early_stop.max_epochs" : "the first trial's epochs",
                                         es.max_epochs > 0 ? " as max_epochs" : ""));
}

}  // namespace

std::vector<PlannedTrial> plan_stage(const search::Experiment& e, const search::Stage& s, DataCache& data) {
    const std::string where = fmt::format("{}:{}: stage '{}'", e.path, s.line, s.name);
    std::vector<search::Trial> trials;
    try {
        trials = search::expand(e, s);
    } catch (const InputError& err) {
        throw InputError(fmt::format("{}: {}", where, err.what()));
    }
    if (trials.empty()) throw InputError(fmt::format("{} has no trials{}", where, no_trials_reason(s)));
    std::vector<PlannedTrial> planned;
    for (auto& t : trials) {
        try {
            PlannedTrial p;
            p.config = t.config();
            const Precision precision = parse_precision(p.config.precision);
            p.sets = &data.get(p.config.data);
            p.train = &p.sets->train;
            const nets::Graph g = build_graph(p.config, *p.train);
            require_memory(training_memory_floor(g, p.config.batch, precision),
                           fmt::format("training at batch {}", p.config.batch));
            p.params = g.total_params();
            p.macs = g.total_macs();
            p.trial = std::move(t);
            planned.push_back(std::move(p));
        } catch (const InputError& err) {
            throw InputError(fmt::format("{}, trial {}: {}", where, describe(t), err.what()));
        }
    }
    if (s.early_stop) refuse_uneven_budgets(where, *s.early_stop, planned);
    return planned;
}

ExperimentPlan validate_experiment(const search::Experiment& e) {
    DataCache data;
    ExperimentPlan plan;
    for (const auto& s : e.stages) {
        if (search::needs_results(s)) continue;
        for (const auto& p : plan_stage(e, s, data)) {
            ++plan.trials;
            plan.biggest_step_macs = std::max(plan.biggest_step_macs, p.macs * p.config.batch);
        }
    }
    return plan;
}

}  // namespace deeper::runners
