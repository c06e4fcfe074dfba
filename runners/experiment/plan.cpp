#include "runners/experiment/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "nets/error.hpp"
#include "runners/engine/precision.hpp"
#include "runners/memory_budget.hpp"
#include "runners/train/trainer.hpp"
#include "search/fnv_hash.hpp"
#include "search/metrics.hpp"
#include "search/objectives.hpp"
#include "search/result_table.hpp"
#include "search/space.hpp"

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

search::EarlierResults stand_in_results(const search::Experiment& e, const search::Stage& retrain) {
    const auto source = std::find_if(e.stages.begin(), e.stages.end(),
                                     [&](const search::Stage& x) { return x.name == retrain.retrain.from; });
    if (source == e.stages.end()) throw std::logic_error("retrain.from names no stage");  // checked when loaded
    const search::SearchSpace space(source->search.space);
    std::vector<search::FoundNet> ends;
    for (const bool last : {false, true}) {
        search::Point p(space.dims());
        for (std::size_t d = 0; d < space.dims(); ++d) {
            const search::RandomDim& dim = space.dim(d);
            p[d] = space.categorical(d) ? double(last ? space.values(d) - 1 : 0) : space.clamp(d, last ? dim.hi : dim.lo);
        }
        search::Settings settings = e.defaults;
        for (const auto& [k, v] : source->settings) settings[k] = v;
        for (const auto& [k, v] : space.settings(p)) settings[k] = v;
        ends.push_back({last ? "(last of the space)" : "(first of the space)", settings, 0, int(ends.size()) + 1});
    }
    return {[](const std::string&, const std::string&) { return std::optional<search::BestTrial>(); },
            [ends](const search::Stage&, const search::RetrainFrom&) { return ends; }};
}

std::vector<PlannedTrial> plan_stage(const search::Experiment& e, const search::Stage& s, DataCache& data,
                                     const search::EarlierResults* results) {
    const std::string where = fmt::format("{}:{}: stage '{}'", e.path, s.line, s.name);
    std::vector<search::Trial> trials;
    try {
        trials = search::expand(e, s, results);
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

SearchPlan plan_search_stage(const search::Experiment& e, const search::Stage& s, DataCache& data) {
    const std::string where = fmt::format("{}:{}: stage '{}'", e.path, s.line, s.name);
    const search::SearchSpec& x = s.search;
    const search::SearchSpace space(x.space);
    SearchPlan plan;
    plan.space_size = space.size();
    auto broken = [&](const search::Metrics& costs) {
        return search::broken_constraint(x, [&](const std::string& m) {
            const auto it = costs.find(m);
            if (it != costs.end()) return it->second;
            // timed when proposed, not here: met
            return search::timed_on_this_machine(m) ? -double(INFINITY) : double(NAN);
        });
    };
    if (!x.table.empty()) {
        const search::ResultTable table = search::load_stage_table(e, s);
        plan.table_configurations = table.configurations();
        plan.table_rows = table.row_count();
        plan.exact_share = true;
        for (std::uint64_t i = 0; i < std::uint64_t(space.size()); ++i) {
            ++plan.drawn;
            plan.feasible += !broken(table.mean(space.key(space.nth(i))));
        }
        return plan;
    }
    // Every choice of every dimension (and both ends of a range) built once, the others at their
    // first value, so that a bad choice (an op the net file cannot take) is named before the
    // run, not when it is drawn.
    search::Point first(space.dims());  // every dimension at its first value (reals at their low end)
    for (std::size_t d = 0; d < space.dims(); ++d) first[d] = space.categorical(d) ? 0 : space.dim(d).lo;
    for (std::size_t d = 0; d < space.dims(); ++d) {
        const std::size_t n = space.categorical(d) ? space.values(d) : 2;  // ranges: both ends
        for (std::size_t v = 0; v < n; ++v) {
            search::Point p = first;
            const search::RandomDim& dim = space.dim(d);
            p[d] = space.categorical(d) ? double(v) : space.clamp(d, v == 0 ? dim.lo : dim.hi);
            const search::Trial t = search::search_trial(e, s, 0, 0, space.settings(p));
            try {
                const search::TrainConfig c = t.config();
                parse_precision(c.precision);
                build_graph(c, data.get(c.data).train);
            } catch (const InputError& err) {
                throw InputError(fmt::format("{}: {}={}: {}", where, space.name(d), space.settings(p).at(space.name(d)),
                                             err.what()));
            }
        }
    }
    // Training: draws from the space, each built as its trial would be.
    search::Rng rng(search::fnv1a(fmt::format("check|{}|{}", e.seed, s.name)));
    const std::size_t draws = space.finite() && space.size() <= 200 ? std::size_t(space.size()) : 200;
    plan.exact_share = space.finite() && space.size() <= 200;
    for (std::size_t i = 0; i < draws; ++i) {
        const search::Point p = plan.exact_share ? space.nth(i) : space.sample(rng);
        search::Trial t = search::search_trial(e, s, 0, int(i), space.settings(p));
        try {
            PlannedTrial pt;
            pt.config = t.config();
            const Precision precision = parse_precision(pt.config.precision);
            pt.sets = &data.get(pt.config.data);
            pt.train = &pt.sets->train;
            const nets::Graph g = build_graph(pt.config, *pt.train);
            pt.params = g.total_params();
            pt.macs = g.total_macs();
            ++plan.drawn;
            if (broken({{"params", double(pt.params)}, {"macs", double(pt.macs)}})) continue;
            ++plan.feasible;
            if (s.early_stop && s.early_stop->max_epochs > 0 && pt.config.epochs != s.early_stop->max_epochs)
                throw InputError(fmt::format("trains {} epochs, but early stopping's last rung is at {} "
                                             "(early_stop.max_epochs); give the trials epochs: {}",
                                             pt.config.epochs, s.early_stop->max_epochs, s.early_stop->max_epochs));
            require_memory(training_memory_floor(g, pt.config.batch, precision),
                           fmt::format("training at batch {}", pt.config.batch));
            pt.trial = std::move(t);
            if (plan.samples.size() < 5) plan.samples.push_back(std::move(pt));
        } catch (const InputError& err) {
            throw InputError(fmt::format("{}, point {}: {}", where, describe(t), err.what()));
        }
    }
    if (plan.feasible == 0)
        throw InputError(fmt::format("{}: none of {} {} of the space meets the constraints", where, plan.drawn,
                                     plan.exact_share ? "configurations" : "draws"));
    return plan;
}

ExperimentPlan validate_experiment(const search::Experiment& e) {
    DataCache data;
    ExperimentPlan plan;
    for (const auto& s : e.stages) {
        if (s.kind == search::Stage::Kind::search) {
            const SearchPlan sp = plan_search_stage(e, s, data);
            plan.trials += std::size_t(s.search.budget) * std::size_t(s.search.repeats);
            for (const auto& p : sp.samples) plan.biggest_step_macs = std::max(plan.biggest_step_macs, p.macs * p.config.batch);
            continue;
        }
        if (s.kind == search::Stage::Kind::retrain && s.init_from.empty()) {
            const search::EarlierResults stand_ins = stand_in_results(e, s);
            for (const auto& p : plan_stage(e, s, data, &stand_ins))
                plan.biggest_step_macs = std::max(plan.biggest_step_macs, p.macs * p.config.batch);
            plan.trials += search::planned_count(e, s);
            continue;
        }
        if (search::needs_results(s)) continue;
        for (const auto& p : plan_stage(e, s, data)) {
            ++plan.trials;
            plan.biggest_step_macs = std::max(plan.biggest_step_macs, p.macs * p.config.batch);
        }
    }
    return plan;
}

}  // namespace deeper::runners
