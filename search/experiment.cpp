#include "search/experiment.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <algorithm>
#include <set>

#include "nets/error.hpp"
#include "nets/knobs.hpp"
#include "nets/suggest.hpp"
#include "search/metrics.hpp"
#include "search/net_positions.hpp"
#include "search/train_config.hpp"
#include "search/yaml_util.hpp"

namespace deeper::search {

std::vector<double> Range::values() const {
    std::vector<double> v;
    if (step <= 0) return {min};
    for (int i = 0;; ++i) {
        const double x = min + i * step;
        if (x > max + step * 1e-6) break;
        v.push_back(std::round(x * 1e9) / 1e9);  // 1.1 + 0.05 * 2 prints as 1.2
    }
    return v;
}

std::vector<std::string> Stage::depends_on() const {
    std::vector<std::string> d;
    if (kind == Kind::scale && !scale.from.empty()) d.push_back(scale.from);
    if (kind == Kind::retrain) d.push_back(retrain.from);
    if (!init_from.empty()) d.push_back(init_from);
    return d;
}

namespace {

// Every key a trial setting may use: training options and net knobs.
std::vector<std::string> setting_keys() {
    std::vector<std::string> k = train_option_names();
    for (const auto& i : nets::knob_infos()) k.emplace_back(i.key);
    return k;
}

constexpr std::size_t kMaxTrialsPerStage = 1'000'000;  // `check` plans a million in seconds
constexpr double kMaxRangeValues = 10'000;

std::string normalized(std::string k) {
    std::replace(k.begin(), k.end(), '-', '_');
    return k;
}

class Reader {
public:
    explicit Reader(const YamlDoc& d) : doc(d) {}
    const YamlDoc& doc;

    // Checks a value against a throwaway config, so that type errors point at the value.
    void check_setting(const std::string& key, const YAML::Node& value_node, const std::string& value) {
        TrainConfig probe;
        try {
            set_train_option(probe, key, value);
        } catch (const InputError& e) {
            doc.fail(value_node, e.what());
        }
    }
    std::string setting_value(const std::string& key, const YAML::Node& n) {
        std::string v;
        if (n.IsSequence()) {  // list-valued options (milestones, freeze)
            for (const auto& item : n) v += (v.empty() ? "" : ",") + doc.scalar(item, key);
        } else {
            v = doc.scalar(n, key);
        }
        check_setting(key, n, v);
        return v;
    }
    void check_key(const YAML::Node& key_node) {
        const std::string k = normalized(key_node.as<std::string>());
        if (k.rfind(kPositionPrefix, 0) == 0) return;  // a net file's position (its value is checked)
        const auto keys = setting_keys();
        if (std::find(keys.begin(), keys.end(), k) == keys.end())
            doc.fail(key_node, fmt::format("unknown setting '{}'{}", key_node.as<std::string>(),
                                           did_you_mean(k, keys)));
    }
    // The map's settings; `except` names a key that is not one (a list item's label).
    Settings settings(const YAML::Node& map, const std::string& what, const std::string& except = "") {
        doc.require_map(map, what);
        Settings s;
        for (const auto& kv : map) {
            if (!except.empty() && kv.first.as<std::string>() == except) continue;
            check_key(kv.first);
            const std::string k = normalized(kv.first.as<std::string>());
            s[k] = setting_value(k, kv.second);
        }
        return s;
    }
    double number(const YAML::Node& n, const std::string& key) { return doc.as<double>(n, key, "a number"); }
    Range range(const YAML::Node& n, const std::string& key) {
        doc.require_map(n, key);
        doc.check_keys(n, {"min", "max", "step"}, key);
        for (const char* k : {"min", "max", "step"})
            if (!n[k]) doc.fail(n, fmt::format("{}: missing '{}'", key, k));
        Range r{number(n["min"], key + ".min"), number(n["max"], key + ".max"), number(n["step"], key + ".step")};
        if (r.min <= 0 || r.max < r.min || r.step <= 0)
            doc.fail(n, fmt::format("{}: need 0 < min <= max and step > 0", key));
        if ((r.max - r.min) / r.step >= kMaxRangeValues)
            doc.fail(n, fmt::format("{}: {} to {} in steps of {} is more than {} values", key, r.min, r.max,
                                    r.step, kMaxRangeValues));
        return r;
    }
    std::vector<std::string> axis(const std::string& key, const YAML::Node& values) {
        if (!values.IsSequence() || values.size() == 0)
            doc.fail(values, fmt::format("'{}': expected a list of values", key));
        std::vector<std::string> out;
        for (const auto& v : values) out.push_back(setting_value(key, v));
        return out;
    }
};

// Counted before anything is expanded: a few lines of YAML (or a few aliases) can describe
// 10^9 grid points, and expanding them would take the machine's memory.
void refuse_oversized(const YamlDoc& doc, const YAML::Node& n, const Stage& s) {
    double trials = double(s.seeds.size());
    std::string how = s.seeds.size() > 1 ? fmt::format(" x {} seeds", s.seeds.size()) : "";
    if (s.kind == Stage::Kind::grid) {
        std::string sizes;
        for (const auto& [k, values] : s.axes) {
            trials *= double(values.size());
            sizes += fmt::format("{}{} {}", sizes.empty() ? "" : " x ", values.size(), k);
        }
        how = sizes + how;
    } else if (s.kind == Stage::Kind::random) {
        trials *= s.count;
    } else {
        return;  // zip and list are as long as their YAML; compound ranges are bounded
    }
    if (trials > double(kMaxTrialsPerStage))
        doc.fail(n, fmt::format("stage '{}' has {:.0f} trials ({}), more than the {} a stage may have",
                                s.name, trials, how, kMaxTrialsPerStage));
}

// One dimension of a random or search space: {choice: [...]}, {int: [lo, hi]} or
// {int: {min, max, step}}, {uniform: [lo, hi]} or {log_uniform: [lo, hi]}.
RandomDim read_dimension(Reader& r, const std::string& k, const YAML::Node& d) {
    const YamlDoc& doc = r.doc;
    doc.require_map(d, k);
    doc.check_keys(d, {"uniform", "log_uniform", "int", "choice"}, "a dimension");
    if (d.size() != 1) doc.fail(d, fmt::format("{}: give one of choice, int, uniform or log_uniform", k));
    RandomDim dim;
    for (const char* kind : {"uniform", "log_uniform", "int", "choice"}) {
        if (!d[kind]) continue;
        dim.kind = kind;
        const YAML::Node& v = d[kind];
        if (dim.kind == "int" && v.IsMap()) {
            doc.check_keys(v, {"min", "max", "step"}, k + ".int");
            if (!v["min"] || !v["max"]) doc.fail(v, fmt::format("{}.int: needs min and max", k));
            dim.lo = doc.as<long>(v["min"], "min", "a whole number");
            dim.hi = doc.as<long>(v["max"], "max", "a whole number");
            if (v["step"]) dim.step = doc.as<long>(v["step"], "step", "a whole number");
            if (dim.step < 1) doc.fail(v["step"], fmt::format("{}.int.step: must be at least 1", k));
            if (dim.hi < dim.lo) doc.fail(v, fmt::format("{}.int: need min <= max", k));
            for (const char* bound : {"min", "max"}) r.check_setting(k, v[bound], v[bound].as<std::string>());
            continue;
        }
        if (!v.IsSequence() || v.size() < 1) doc.fail(v, fmt::format("{}.{}: expected a list", k, kind));
        if (dim.kind == "choice") {
            for (const auto& c : v) {
                dim.choices.push_back(r.setting_value(k, c));
                if (std::count(dim.choices.begin(), dim.choices.end(), dim.choices.back()) > 1)
                    doc.fail(c, fmt::format("{}.choice: '{}' is given twice", k, dim.choices.back()));
            }
        } else {
            if (v.size() != 2) doc.fail(v, fmt::format("{}.{}: expected [low, high]", k, kind));
            dim.lo = r.number(v[0], k);
            dim.hi = r.number(v[1], k);
            if (dim.hi < dim.lo || (dim.kind == "log_uniform" && dim.lo <= 0))
                doc.fail(v, fmt::format("{}.{}: need low <= high{}", k, kind, dim.kind == "log_uniform" ? " and low > 0" : ""));
            if (dim.kind == "int" && (dim.lo != std::floor(dim.lo) || dim.hi != std::floor(dim.hi)))
                doc.fail(v, fmt::format("{}.int: expected whole numbers", k));
            for (const auto& bound : v) r.check_setting(k, bound, bound.as<std::string>());
        }
    }
    return dim;
}

// A random stage: `count` draws from `space` (uniform, log_uniform, int or choice per setting).
void read_random(Reader& r, const YAML::Node& rd, Stage& s) {
    const YamlDoc& doc = r.doc;
    s.kind = Stage::Kind::random;
    doc.require_map(rd, "random");
    doc.check_keys(rd, {"count", "seed", "space"}, "random");
    if (!rd["count"] || !rd["space"]) doc.fail(rd, "random: needs count and space");
    s.count = doc.as<int>(rd["count"], "count", "a positive integer");
    if (s.count <= 0) doc.fail(rd["count"], "random.count: must be positive");
    if (rd["seed"]) s.random_seed = doc.as<std::uint64_t>(rd["seed"], "seed", "an integer");
    doc.require_map(rd["space"], "random.space");
    for (const auto& kv : rd["space"]) {
        r.check_key(kv.first);
        const std::string k = normalized(kv.first.as<std::string>());
        s.space[k] = read_dimension(r, k, kv.second);
    }
}

// An objective: a metric's name (its registry direction), or {metric, goal: max|min}; a
// table's own columns need the goal.
Objective read_objective(const YamlDoc& doc, const YAML::Node& n, bool table) {
    Objective o;
    std::optional<bool> minimize;
    if (n.IsMap()) {
        doc.check_keys(n, {"metric", "goal"}, "an objective");
        if (!n["metric"]) doc.fail(n, "an objective needs a metric");
        o.metric = doc.scalar(n["metric"], "metric");
        if (n["goal"]) {
            const std::string g = doc.scalar(n["goal"], "goal");
            if (g != "max" && g != "min") doc.fail(n["goal"], fmt::format("goal: expected max or min, got '{}'", g));
            minimize = g == "min";
        }
    } else {
        o.metric = doc.scalar(n, "objective");
    }
    const MetricInfo* m = find_metric(o.metric);
    if (!m && !table) {
        const auto known = metric_names();
        doc.fail(n, fmt::format("unknown metric '{}'{}", o.metric, did_you_mean(o.metric, known)));
    }
    if (!m && !minimize) doc.fail(n, fmt::format("objective '{}': not a metric deeper knows; give its goal (max or min)", o.metric));
    if (m && m->known == Known::at_end && o.metric.rfind("test_", 0) == 0 && !table)
        doc.fail(n, fmt::format("objective '{}': a search chooses by the validation split; the test set is for the report",
                                o.metric));
    o.minimize = minimize.value_or(m && m->direction == Direction::min);
    return o;
}

// A search's strategy: a name, or a map with the name and the options that strategy takes.
SearchStrategy read_strategy(Reader& r, const YAML::Node& st) {
    const YamlDoc& doc = r.doc;
    SearchStrategy strategy;
    if (st.IsMap()) {
        doc.check_keys(st, {"name", "population", "tournament", "startup", "candidates", "prior_weight"}, "strategy");
        if (!st["name"]) doc.fail(st, "strategy: needs a name (random, evolution or tpe)");
        strategy.name = doc.scalar(st["name"], "name");
        auto count = [&](const char* key, int& v, int lo) {
            if (!st[key]) return;
            v = doc.as<int>(st[key], key, "a whole number");
            if (v < lo) doc.fail(st[key], fmt::format("strategy.{}: must be at least {}", key, lo));
        };
        count("population", strategy.population, 2);
        count("tournament", strategy.tournament, 1);
        count("startup", strategy.startup, 1);
        count("candidates", strategy.candidates, 1);
        if (st["prior_weight"]) {
            strategy.prior_weight = r.number(st["prior_weight"], "prior_weight");
            if (!(strategy.prior_weight > 0) || !std::isfinite(strategy.prior_weight))
                doc.fail(st["prior_weight"], "strategy.prior_weight: must be a positive number");
        }
        const std::map<std::string, std::vector<std::string>> takes = {
            {"random", {}}, {"evolution", {"population", "tournament"}}, {"tpe", {"startup", "candidates", "prior_weight"}}};
        const auto it = takes.find(strategy.name);
        if (it == takes.end())
            doc.fail(st["name"], fmt::format("strategy '{}': expected random, evolution or tpe", strategy.name));
        for (const auto& kv : st) {
            const std::string key = kv.first.as<std::string>();
            if (key != "name" && std::find(it->second.begin(), it->second.end(), key) == it->second.end())
                doc.fail(kv.first, fmt::format("strategy.{}: {} does not take it", key, strategy.name));
        }
        if (strategy.name == "evolution" && strategy.tournament > strategy.population)
            doc.fail(st["tournament"], "strategy.tournament: at most the population");
    } else {
        strategy.name = doc.scalar(st, "strategy");
        if (strategy.name != "random" && strategy.name != "evolution" && strategy.name != "tpe")
            doc.fail(st, fmt::format("strategy '{}': expected random, evolution or tpe", strategy.name));
    }
    return strategy;
}

void read_search(Reader& r, const YAML::Node& n, Stage& s) {
    const YamlDoc& doc = r.doc;
    s.kind = Stage::Kind::search;
    SearchSpec& x = s.search;
    doc.require_map(n, "search");
    doc.check_keys(n, {"space", "strategy", "budget", "objectives", "reward", "constraints", "table", "repeats", "seed",
                       "reference", "report_at"},
                   "search");
    if (!n["space"] || !n["budget"]) doc.fail(n, "search: needs a space and a budget");
    doc.require_map(n["space"], "search.space");
    if (n["space"].size() == 0) doc.fail(n["space"], "search.space: no dimensions");
    for (const auto& kv : n["space"]) {
        r.check_key(kv.first);
        const std::string k = normalized(kv.first.as<std::string>());
        x.space.emplace_back(k, read_dimension(r, k, kv.second));
    }
    x.budget = doc.as<int>(n["budget"], "budget", "a positive whole number");
    if (x.budget <= 0 || x.budget > 1'000'000) doc.fail(n["budget"], "search.budget: expected 1 to 1,000,000 points");
    if (const auto st = n["strategy"]; st) x.strategy = read_strategy(r, st);
    if (n["table"]) {
        x.table = doc.scalar(n["table"], "table");
        x.table_line = n["table"].Mark().line + 1;
        x.table_column = n["table"].Mark().column + 1;
    }
    const bool table = !x.table.empty();
    if (n["objectives"] && n["reward"]) doc.fail(n["reward"], "search: give objectives or a reward, not both");
    if (const auto ob = n["objectives"]; ob) {
        if (!ob.IsSequence() || ob.size() == 0) doc.fail(ob, "search.objectives: expected a list like [val_top1, macs]");
        for (const auto& o : ob) {
            x.objectives.push_back(read_objective(doc, o, table));
            for (std::size_t i = 0; i + 1 < x.objectives.size(); ++i)
                if (x.objectives[i].metric == x.objectives.back().metric)
                    doc.fail(o, fmt::format("objective '{}' is given twice", x.objectives.back().metric));
        }
    } else if (const auto rw = n["reward"]; rw) {
        doc.require_map(rw, "reward");
        doc.check_keys(rw, {"metric", "cost", "target", "w", "hard"}, "reward");
        Reward w;
        if (rw["metric"]) w.metric = doc.scalar(rw["metric"], "metric");
        if (rw["cost"]) w.cost = doc.scalar(rw["cost"], "cost");
        if (!rw["target"]) doc.fail(rw, "reward: needs a target (the cost MnasNet aims at, e.g. 4e8 MACs)");
        w.target = r.number(rw["target"], "target");
        if (!(w.target > 0)) doc.fail(rw["target"], "reward.target: must be positive");
        if (rw["w"]) w.w = doc.as<double>(rw["w"], "w", "a number");
        if (rw["hard"]) w.hard = doc.as<bool>(rw["hard"], "hard", "true or false");
        if (rw["w"] && w.hard) doc.fail(rw["w"], "reward: hard sets w (0 within the target, -1 beyond); give one of them");
        for (const auto& [key, metric] : {std::pair{"metric", &w.metric}, {"cost", &w.cost}})
            if (!find_metric(*metric) && !table)
                doc.fail(rw[key] ? rw[key] : rw, fmt::format("reward.{}: unknown metric '{}'", key, *metric));
        if (const MetricInfo* c = find_metric(w.cost); c && c->direction != Direction::min)
            doc.fail(rw["cost"], fmt::format("reward.cost: '{}' is better when higher; a reward's cost is one to keep "
                                             "under its target (macs, params, latency_ms)",
                                             w.cost));
        x.reward = w;
        x.objectives = {Objective{"reward", false}};
    } else {
        x.objectives = {Objective{"val_top1", false}};
    }
    if (const auto c = n["constraints"]; c) {
        doc.require_map(c, "constraints");
        for (const auto& kv : c) {
            const std::string key = kv.first.as<std::string>();
            const std::string metric = key.rfind("max_", 0) == 0 ? key.substr(4) : "";
            const MetricInfo* m = find_metric(metric);
            if (!m || m->known != Known::before_training || m->direction != Direction::min) {
                std::vector<std::string> bounded;  // an upper bound makes sense on a cost, not on a gain
                for (const auto& name : metric_names({Known::before_training}))
                    if (lower_is_better(name)) bounded.push_back("max_" + name);
                doc.fail(kv.first, fmt::format("constraint '{}': expected max_ and a cost known before training ({})",
                                               key, fmt::join(bounded, ", ")));
            }
            const double bound = r.number(kv.second, key);
            x.constraints.emplace_back(metric, bound);
        }
    }
    if (const auto ref = n["reference"]; ref) {
        doc.require_map(ref, "reference");
        for (const auto& kv : ref) {
            const std::string m = kv.first.as<std::string>();
            if (std::none_of(x.objectives.begin(), x.objectives.end(), [&](const Objective& o) { return o.metric == m; }))
                doc.fail(kv.first, fmt::format("reference: '{}' is not one of the objectives", m));
            x.reference[m] = doc.as<double>(kv.second, m, "a number");
        }
    }
    if (n["repeats"]) {
        x.repeats = doc.as<int>(n["repeats"], "repeats", "a positive whole number");
        if (x.repeats < 1 || x.repeats > 10'000) doc.fail(n["repeats"], "search.repeats: expected 1 to 10,000");
    }
    if (n["seed"]) x.seed = doc.as<std::uint64_t>(n["seed"], "seed", "a whole number");
    if (const auto at = n["report_at"]; at) {
        if (!at.IsSequence() || at.size() == 0) doc.fail(at, "report_at: expected a list of evaluation counts like [50, 100]");
        for (const auto& q : at) {
            x.report_at.push_back(doc.as<int>(q, "report_at", "a whole number"));
            if (x.report_at.back() < 1 || x.report_at.back() > x.budget ||
                (x.report_at.size() > 1 && x.report_at.back() <= x.report_at[x.report_at.size() - 2]))
                doc.fail(q, fmt::format("report_at: increasing counts from 1 to the budget {}", x.budget));
        }
    }
}

EarlyStop read_early_stop(const YamlDoc& doc, const YAML::Node& n) {
    doc.require_map(n, "early_stop");
    doc.check_keys(n, {"method", "metric", "min_epochs", "reduction", "max_epochs"}, "early_stop");
    EarlyStop e;
    if (n["method"]) e.method = doc.scalar(n["method"], "method");
    if (e.method != "asha" && e.method != "sha" && e.method != "hyperband")
        doc.fail(n["method"], fmt::format("early_stop.method: expected asha, sha or hyperband, got '{}'", e.method));
    if (n["metric"]) e.metric = doc.scalar(n["metric"], "metric");
    // measured every epoch, so a rung can compare trials (the test set is only seen at the end)
    static const std::vector<std::string> per_epoch = metric_names({Known::every_epoch});
    if (std::find(per_epoch.begin(), per_epoch.end(), e.metric) == per_epoch.end())
        doc.fail(n["metric"], fmt::format("early_stop.metric: '{}' is not measured every epoch; one of {}{}", e.metric,
                                          fmt::join(per_epoch, ", "), did_you_mean(e.metric, per_epoch)));
    if (n["min_epochs"]) e.min_epochs = doc.as<int>(n["min_epochs"], "min_epochs", "a whole number");
    if (n["reduction"]) e.reduction = doc.as<int>(n["reduction"], "reduction", "a whole number");
    if (n["max_epochs"]) e.max_epochs = doc.as<int>(n["max_epochs"], "max_epochs", "a whole number");
    if (e.min_epochs < 1) doc.fail(n["min_epochs"], "early_stop.min_epochs: must be at least 1");
    if (e.reduction < 2) doc.fail(n["reduction"], "early_stop.reduction: must be at least 2 (keep the best 1/reduction)");
    if (n["max_epochs"] && e.max_epochs < e.min_epochs)
        doc.fail(n["max_epochs"], "early_stop.max_epochs: must be at least min_epochs");
    return e;
}

// Names that become file and folder names: letters, digits, '.', '_', '-', at most 100 of them
// (a file name's limit is 255 bytes, and a plot's name adds the stage's and a metric's).
void require_plain_name(const YamlDoc& doc, const YAML::Node& at, const char* what, const std::string& name,
                        const char* why) {
    if (name.empty() || name == "." || name == ".." || name.size() > 100 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
        doc.fail(at, fmt::format("{} '{}': expected a plain folder name (letters, digits, '.', '_', '-'; at most 100), "
                                 "since {}",
                                 what, name.size() > 100 ? name.substr(0, 100) + "..." : name, why));
}

// What a report table's rows or columns, or a plot's groups, may be: a setting, or a label
// expand gives trials (stage, seed, a list item's label, repeat; a scale stage's scaling and
// phi_matched; a retrain stage's from_search and found_rank). Anything else would render an
// empty table.
std::string grouping_key(const YamlDoc& doc, const YAML::Node& n, const char* what) {
    const std::string key = normalized(doc.scalar(n, what));
    std::vector<std::string> known = setting_keys();
    known.insert(known.end(), {"stage", "seed", "label", "repeat", "scaling", "phi_matched", "from_search", "found_rank"});
    if (key.rfind(kPositionPrefix, 0) == 0) return key;
    if (std::find(known.begin(), known.end(), key) == known.end())
        doc.fail(n, fmt::format("{}: '{}' is not a setting or a trial label{}", what, key, did_you_mean(key, known)));
    return key;
}

void read_retrain(const YamlDoc& doc, const YAML::Node& n, Stage& s) {
    s.kind = Stage::Kind::retrain;
    doc.require_map(n, "retrain");
    doc.check_keys(n, {"from", "top", "each_search"}, "retrain");
    if (!n["from"]) doc.fail(n, "retrain: needs from (a search stage)");
    s.retrain.from = doc.scalar(n["from"], "from");
    if (n["top"]) {
        s.retrain.top = doc.as<int>(n["top"], "retrain.top", "an integer");
        if (s.retrain.top < 1) doc.fail(n["top"], "retrain.top: at least 1 (how many found nets to retrain)");
    }
    if (n["each_search"])
        s.retrain.each_search = doc.as<bool>(n["each_search"], "retrain.each_search", "true or false");
}

// A stage's `measure`: the metrics timed on the machine, each once.
std::vector<std::string> read_measure(const YamlDoc& doc, const YAML::Node& m) {
    if (!m.IsSequence() || m.size() == 0) doc.fail(m, "measure: expected a list like [latency_ms, throughput]");
    std::vector<std::string> out;
    for (const auto& v : m) {
        const std::string name = doc.scalar(v, "measure");
        if (!timed_on_this_machine(name))
            doc.fail(v, fmt::format("measure: '{}' is not timed on the machine (latency_ms, throughput)", name));
        if (std::count(out.begin(), out.end(), name)) doc.fail(v, fmt::format("measure: '{}' is given twice", name));
        out.push_back(name);
    }
    return out;
}

// `seeds: [0, 1, 2]`: each seed one repeat of the stage.
std::vector<int> read_seeds(const YamlDoc& doc, const YAML::Node& n) {
    if (!n.IsSequence() || n.size() == 0) doc.fail(n, "'seeds': expected a list of integers like [0, 1, 2]");
    std::vector<int> seeds;
    for (const auto& v : n) {
        seeds.push_back(doc.as<int>(v, "seeds", "an integer"));
        if (std::count(seeds.begin(), seeds.end(), seeds.back()) > 1)
            doc.fail(v, fmt::format("'seeds': {} is given twice (each seed is one repeat of the stage)", seeds.back()));
    }
    return seeds;
}

// grid: every combination of its axes; zip: the axes side by side, all of one length.
void read_axes(Reader& r, const YAML::Node& n, Stage& s, Stage::Kind kind) {
    const YamlDoc& doc = r.doc;
    const char* what = kind == Stage::Kind::grid ? "grid" : "zip";
    s.kind = kind;
    doc.require_map(n, what);
    for (const auto& kv : n) {
        r.check_key(kv.first);
        const std::string k = normalized(kv.first.as<std::string>());
        s.axes.emplace_back(k, r.axis(k, kv.second));
        const std::size_t len = s.axes.front().second.size();
        if (kind == Stage::Kind::zip && s.axes.back().second.size() != len)
            doc.fail(kv.second, fmt::format("zip: '{}' has {} values, the lists before it {}", k,
                                            s.axes.back().second.size(), len));
    }
}

void read_list(Reader& r, const YAML::Node& n, Stage& s) {
    s.kind = Stage::Kind::list;
    if (!n.IsSequence() || n.size() == 0) r.doc.fail(n, "list: expected a list of settings maps");
    for (const auto& item : n) {
        s.items.push_back(r.settings(item, "a list item", "label"));
        s.item_labels.push_back(item["label"] ? r.doc.scalar(item["label"], "label") : "");
    }
}

// EfficientNet's grid search for alpha, beta, gamma under alpha * beta^2 * gamma^2 ~= target.
void read_compound_search(Reader& r, const YAML::Node& c, Stage& s) {
    const YamlDoc& doc = r.doc;
    s.kind = Stage::Kind::compound_search;
    doc.require_map(c, "compound_search");
    doc.check_keys(c, {"alpha", "beta", "gamma", "target", "tolerance", "phi", "check"}, "compound_search");
    for (const char* k : {"alpha", "beta", "gamma"})
        if (!c[k]) doc.fail(c, fmt::format("compound_search: missing '{}' (min, max, step)", k));
    s.compound.alpha = r.range(c["alpha"], "alpha");
    s.compound.beta = r.range(c["beta"], "beta");
    s.compound.gamma = r.range(c["gamma"], "gamma");
    if (c["target"]) s.compound.target = r.number(c["target"], "target");
    if (c["tolerance"]) s.compound.tolerance = r.number(c["tolerance"], "tolerance");
    if (c["phi"]) s.compound.phi = r.number(c["phi"], "phi");
    if (c["check"]) {
        const std::string how = doc.scalar(c["check"], "check");
        if (how != "formula" && how != "macs")
            doc.fail(c["check"], fmt::format("check: expected formula or macs, got '{}'", how));
        s.compound.by_macs = how == "macs";
    }
}

// Compound scaling with phi, by a compound_search stage's best coefficients or given ones.
void read_scale(Reader& r, const YAML::Node& sc, Stage& s) {
    const YamlDoc& doc = r.doc;
    s.kind = Stage::Kind::scale;
    doc.require_map(sc, "scale");
    doc.check_keys(sc, {"from", "alpha", "beta", "gamma", "metric", "phi", "baselines"}, "scale");
    const int given = bool(sc["alpha"]) + bool(sc["beta"]) + bool(sc["gamma"]);
    if (bool(sc["from"]) == (given > 0) || (given > 0 && given < 3) || !sc["phi"])
        doc.fail(sc, "scale: needs phi, and either from (a compound_search stage) or all of alpha, beta "
                     "and gamma");
    if (sc["from"]) {
        s.scale.from = doc.scalar(sc["from"], "from");
    } else {
        CompoundCoefficients c;
        for (auto [key, value] : {std::pair{"alpha", &c.alpha}, {"beta", &c.beta}, {"gamma", &c.gamma}}) {
            *value = r.number(sc[key], key);
            if (*value < 1) doc.fail(sc[key], fmt::format("scale.{}: must be at least 1 (it scales up)", key));
        }
        s.scale.given = c;
    }
    if (sc["metric"]) {
        if (!sc["from"]) doc.fail(sc["metric"], "scale.metric: chooses among a search stage's trials; give it with from");
        s.scale.metric = doc.scalar(sc["metric"], "metric");
    }
    if (!sc["phi"].IsSequence()) doc.fail(sc["phi"], "scale.phi: expected a list like [1, 2, 3]");
    for (const auto& p : sc["phi"]) s.scale.phi.push_back(r.number(p, "phi"));
    if (sc["baselines"]) s.scale.baselines = doc.as<bool>(sc["baselines"], "baselines", "true or false");
}

// What a search stage cannot be combined with: rungs that rank what is known only at the end,
// early stopping of a table or of searched epochs, seeds and init_from.
void check_search_stage(const YamlDoc& doc, const YAML::Node& n, const Stage& s) {
    if (s.early_stop && s.early_stop->method != "asha")
        doc.fail(n["early_stop"], "early_stop: a search stage's proposals arrive as it goes: method asha only");
    // a rung ranks what is measured every epoch (or known before training)
    std::vector<std::string> ranked;
    for (const auto& o : s.search.objectives) ranked.push_back(o.metric);
    if (s.search.reward) ranked = {s.search.reward->metric, s.search.reward->cost};
    for (const auto& m : ranked)
        if (const MetricInfo* info = find_metric(m); s.early_stop && info && info->known == Known::at_end)
            doc.fail(n["early_stop"], fmt::format("early_stop: the objective '{}' is known only when a trial ends; "
                                                  "rungs rank what is measured every epoch (val_top1, val_loss, ...)",
                                                  m));
    for (const auto& [name, dim] : s.search.space)
        if (s.early_stop && name == "epochs")
            doc.fail(n["search"]["space"], "search.space: epochs cannot be searched under early_stop (its rungs end "
                                           "at the trials' epochs); search it without early_stop");
    if (s.early_stop && !s.search.table.empty())
        doc.fail(n["early_stop"], "early_stop: a table answers at full fidelity; early stopping is for training");
    if (n["seeds"]) doc.fail(n["seeds"], "seeds: a search stage runs independent searches with search.repeats");
    if (n["init_from"]) doc.fail(n["init_from"], "init_from: a search stage's proposals start fresh");
}

Stage read_stage(Reader& r, const YAML::Node& n, int index) {
    const YamlDoc& doc = r.doc;
    doc.require_map(n, "a stage");
    static const std::vector<std::string> known = {"name",  "grid",   "zip",  "list",  "random",
                                                   "compound_search", "scale", "settings", "seeds",
                                                   "init_from", "init_metric", "early_stop", "search", "retrain",
                                                   "measure"};
    doc.check_keys(n, known, "a stage");
    Stage s;
    s.line = n.Mark().line + 1;
    s.name = n["name"] ? doc.scalar(n["name"], "name") : fmt::format("stage{}", index + 1);
    if (n["name"]) require_plain_name(doc, n["name"], "stage name", s.name, "it names the stage's plots and claims folder");
    int kinds = 0;
    for (const char* k : {"grid", "zip", "list", "random", "compound_search", "scale", "search", "retrain"})
        kinds += bool(n[k]);
    if (kinds != 1)
        doc.fail(n, fmt::format("stage '{}': give exactly one of grid, zip, list, random, "
                                "compound_search, scale, search or retrain", s.name));
    if (n["settings"]) s.settings = r.settings(n["settings"], "settings");
    if (n["seeds"]) s.seeds = read_seeds(doc, n["seeds"]);
    if (n["init_from"]) s.init_from = doc.scalar(n["init_from"], "init_from");
    if (n["init_metric"]) s.init_metric = doc.scalar(n["init_metric"], "init_metric");
    if (n["early_stop"]) s.early_stop = read_early_stop(doc, n["early_stop"]);
    if (n["measure"]) s.measure = read_measure(doc, n["measure"]);
    if (n["grid"]) read_axes(r, n["grid"], s, Stage::Kind::grid);
    else if (n["zip"]) read_axes(r, n["zip"], s, Stage::Kind::zip);
    else if (n["list"]) read_list(r, n["list"], s);
    else if (n["random"]) read_random(r, n["random"], s);
    else if (n["search"]) read_search(r, n["search"], s);
    else if (n["compound_search"]) read_compound_search(r, n["compound_search"], s);
    else if (n["retrain"]) read_retrain(doc, n["retrain"], s);
    else read_scale(r, n["scale"], s);
    if (s.kind == Stage::Kind::search) check_search_stage(doc, n, s);
    if (s.early_stop && s.kind == Stage::Kind::scale)
        doc.fail(n["early_stop"], "early_stop: a scale stage measures every scaled net to the end; "
                                  "put early_stop on the search stage");
    refuse_oversized(doc, n, s);
    return s;
}

// What a stage's best is chosen by: a trial's final value of anything measured.
// A search over a net file's positions: every position the space names is one the file has, and
// every position the file has is filled by the space or by a setting.
void check_positions(const YamlDoc& doc, const YAML::Node& space, const Experiment& e, const Stage& s) {
    Settings settings = e.defaults;
    for (const auto& [k, v] : s.settings) settings[k] = v;
    const auto spec = settings.find("spec");
    std::vector<std::string> file_has;
    if (spec != settings.end()) {
        try {
            file_has = net_positions(read_text_file(spec->second));
        } catch (const InputError&) {
            return;  // planning names the missing net file
        }
    }
    const std::string prefix = kPositionPrefix;
    for (const auto& kv : space) {
        const std::string k = normalized(kv.first.as<std::string>());
        if (k.rfind(prefix, 0) != 0) continue;
        const std::string position = k.substr(prefix.size());
        if (spec == settings.end())
            doc.fail(kv.first, fmt::format("{}: a net position needs a net file (spec) in the stage's settings or the defaults", k));
        if (std::find(file_has.begin(), file_has.end(), position) == file_has.end())
            doc.fail(kv.first, fmt::format("{}: the net file {} has no position ${{{}}}{}", k, spec->second, position,
                                           file_has.empty() ? "" : fmt::format(" (it has {})", fmt::join(file_has, ", "))));
    }
    for (const auto& position : file_has) {
        const std::string k = prefix + position;
        const bool in_space = std::any_of(s.search.space.begin(), s.search.space.end(), [&](const auto& d) { return d.first == k; });
        if (!in_space && !settings.count(k))
            doc.fail(space, fmt::format("the net file {} has a position ${{{}}} that neither the space nor a setting fills "
                                        "(add {} to the space)",
                                        spec->second, position, k));
    }
}

const std::vector<std::string> kMetrics = metric_names({Known::every_epoch, Known::at_end});
// The ones measured every epoch (the test set is evaluated once, at the end): what a curve or a
// threshold can follow.
const std::vector<std::string> kEpochMetrics = metric_names({Known::every_epoch});
// What a report table or a points plot may show: any of them, and the net's size.
const std::vector<std::string> kReportMetrics = metric_names();

ReportClaim read_report_claim(const YamlDoc& doc, const YAML::Node& c) {
    doc.require_map(c, "a report claim");
    doc.check_keys(c, {"says", "stage", "metric", "rows", "above", "below"}, "a report claim");
    for (const char* k : {"says", "metric", "rows", "above", "below"})
        if (!c[k]) doc.fail(c, fmt::format("a report claim needs {} (says, metric, rows, above, below)", k));
    ReportClaim rc;
    rc.says = doc.scalar(c["says"], "says");
    if (c["stage"]) rc.stage = doc.scalar(c["stage"], "stage");
    rc.metric = doc.scalar(c["metric"], "metric");
    if (std::find(kReportMetrics.begin(), kReportMetrics.end(), rc.metric) == kReportMetrics.end())
        doc.fail(c["metric"], fmt::format("unknown metric '{}'{}", rc.metric, did_you_mean(rc.metric, kReportMetrics)));
    rc.rows = grouping_key(doc, c["rows"], "rows");
    rc.above = doc.scalar(c["above"], "above");
    rc.below = doc.scalar(c["below"], "below");
    if (rc.above == rc.below) doc.fail(c["below"], fmt::format("below: the same {} as above ('{}')", rc.rows, rc.above));
    return rc;
}

}  // namespace

Experiment parse_experiment(const std::string& text, const std::string& name) {
    const YamlDoc doc = YamlDoc::load_string(text, name);
    Reader r(doc);
    const YAML::Node& root = doc.root();
    doc.check_keys(root, {"name", "description", "seed", "defaults", "stages", "report"}, "an experiment");
    Experiment e;
    e.path = name;
    if (!root["name"]) doc.fail(root, "missing key 'name'");
    e.name = doc.scalar(root["name"], "name");
    require_plain_name(doc, root["name"], "name", e.name, "results go to results/NAME");
    if (root["description"]) e.description = doc.scalar(root["description"], "description");
    if (root["seed"]) e.seed = doc.as<std::uint64_t>(root["seed"], "seed", "an integer");
    if (root["defaults"]) e.defaults = r.settings(root["defaults"], "defaults");
    if (!root["stages"] || !root["stages"].IsSequence() || root["stages"].size() == 0)
        doc.fail(root["stages"] ? root["stages"] : root, "key 'stages': expected a list of stages");
    std::set<std::string> seen;
    for (std::size_t i = 0; i < root["stages"].size(); ++i) {
        const YAML::Node& n = root["stages"][i];
        Stage s = read_stage(r, n, int(i));
        if (!seen.insert(s.name).second) doc.fail(n, fmt::format("stage name '{}' is used twice", s.name));
        for (const auto& dep : s.depends_on()) {
            if (!seen.count(dep) || dep == s.name)
                doc.fail(n, fmt::format("stage '{}' uses stage '{}', which is not an earlier stage", s.name, dep));
        }
        for (const auto& other : e.stages) {
            if (s.kind == Stage::Kind::scale && other.name == s.scale.from && other.kind != Stage::Kind::compound_search)
                doc.fail(n, fmt::format("scale.from: stage '{}' is not a compound_search", s.scale.from));
            if (s.kind == Stage::Kind::retrain && other.name == s.retrain.from && other.kind != Stage::Kind::search)
                doc.fail(n["retrain"]["from"], fmt::format("retrain.from: stage '{}' is not a search stage", s.retrain.from));
        }
        for (const std::string& m : {s.scale.metric, s.init_metric})
            if (std::find(kMetrics.begin(), kMetrics.end(), m) == kMetrics.end())
                doc.fail(n, fmt::format("unknown metric '{}'{}", m, did_you_mean(m, kMetrics)));
        if (s.kind == Stage::Kind::search) check_positions(doc, n["search"]["space"], e, s);
        e.stages.push_back(std::move(s));
    }
    if (const auto rep = root["report"]; rep) {
        doc.require_map(rep, "report");
        doc.check_keys(rep, {"tables", "plots", "claims"}, "report");
        auto stage_ok = [&](const YAML::Node& n, const std::string& st) {
            if (!st.empty() && !seen.count(st)) doc.fail(n, fmt::format("no stage named '{}'", st));
        };
        for (const auto& t : rep["tables"]) {
            doc.require_map(t, "a report table");
            doc.check_keys(t, {"title", "stage", "rows", "columns", "metric", "reach"}, "a report table");
            ReportTable rt;
            if (t["title"]) rt.title = doc.scalar(t["title"], "title");
            if (t["stage"]) rt.stage = doc.scalar(t["stage"], "stage");
            if (!t["rows"]) doc.fail(t, "a report table needs rows (a setting)");
            rt.rows = grouping_key(doc, t["rows"], "rows");
            if (t["columns"]) rt.columns = grouping_key(doc, t["columns"], "columns");
            if (t["metric"]) rt.metric = doc.scalar(t["metric"], "metric");
            if (std::find(kReportMetrics.begin(), kReportMetrics.end(), rt.metric) == kReportMetrics.end())
                doc.fail(t["metric"], fmt::format("unknown metric '{}'{}", rt.metric, did_you_mean(rt.metric, kReportMetrics)));
            if (t["reach"]) {
                rt.reach = r.number(t["reach"], "reach");
                if (std::find(kEpochMetrics.begin(), kEpochMetrics.end(), rt.metric) == kEpochMetrics.end())
                    doc.fail(t["reach"], fmt::format("reach: '{}' is not measured every epoch", rt.metric));
            }
            stage_ok(t, rt.stage);
            e.tables.push_back(rt);
        }
        for (const auto& p : rep["plots"]) {
            doc.require_map(p, "a report plot");
            doc.check_keys(p, {"title", "stage", "kind", "metric", "x", "group", "join", "front", "origin", "log_y"},
                           "a report plot");
            ReportPlot rp;
            if (p["title"]) rp.title = doc.scalar(p["title"], "title");
            if (p["stage"]) rp.stage = doc.scalar(p["stage"], "stage");
            if (p["kind"]) rp.kind = doc.scalar(p["kind"], "kind");
            if (rp.kind != "curves" && rp.kind != "scatter" && rp.kind != "points")
                doc.fail(p["kind"], fmt::format("plot kind: expected curves, scatter or points, got '{}'", rp.kind));
            if (p["metric"]) rp.metric = doc.scalar(p["metric"], "metric");
            // curves follow a per-epoch metric; the others a trial's final value
            const auto& metrics = rp.kind == "curves" ? kEpochMetrics : kReportMetrics;
            if (std::find(metrics.begin(), metrics.end(), rp.metric) == metrics.end())
                doc.fail(p["metric"], fmt::format("unknown metric '{}'{}", rp.metric, did_you_mean(rp.metric, metrics)));
            rp.x = rp.kind == "curves" ? "epoch" : "macs";
            if (p["x"]) {
                if (rp.kind != "scatter") doc.fail(p["x"], "x: only a scatter plot has a choice of x (a metric known before training)");
                rp.x = doc.scalar(p["x"], "x");
                const MetricInfo* m = find_metric(rp.x);
                if (!m || m->known != Known::before_training)
                    doc.fail(p["x"], fmt::format("x: expected a metric known before training ({}), got '{}'",
                                                 fmt::join(metric_names({Known::before_training}), ", "), rp.x));
            }
            if (p["group"]) rp.group = grouping_key(doc, p["group"], "group");
            if (p["join"]) {
                if (rp.kind != "scatter") doc.fail(p["join"], "join: only a scatter plot joins its points");
                rp.join = doc.as<bool>(p["join"], "join", "true or false");
            }
            if (p["front"]) {
                if (rp.kind != "scatter") doc.fail(p["front"], "front: only a scatter plot draws a front");
                rp.front = doc.as<bool>(p["front"], "front", "true or false");
                if (rp.front && rp.join) doc.fail(p["front"], "front: give join or front, not both (each draws the line)");
            }
            if (p["origin"]) {
                if (rp.kind != "scatter") doc.fail(p["origin"], "origin: only a scatter plot starts its lines at a stage's point");
                rp.origin = doc.scalar(p["origin"], "origin");
                if (rp.origin == rp.stage) doc.fail(p["origin"], "origin: a stage other than the plot's own");
                stage_ok(p["origin"], rp.origin);
            }
            if (p["log_y"]) {
                if (rp.kind == "points") doc.fail(p["log_y"], "log_y: only curves and scatter plots have a log y axis");
                rp.log_y = doc.as<bool>(p["log_y"], "log_y", "true or false");
            }
            stage_ok(p, rp.stage);
            e.plots.push_back(rp);
        }
        for (const auto& c : rep["claims"]) {
            e.claims.push_back(read_report_claim(doc, c));
            stage_ok(c, e.claims.back().stage);
        }
    }
    return e;
}

Experiment load_experiment(const std::string& path) { return parse_experiment(read_text_file(path), path); }

}  // namespace deeper::search
