#include "runners/experiment/search_report.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>

#include "runners/atomic_file.hpp"
#include "runners/experiment/search_runner.hpp"
#include "runners/experiment/search_traces.hpp"
#include "runners/experiment/svg.hpp"
#include "runners/experiment/trial_values.hpp"
#include "runners/table.hpp"
#include "search/objectives.hpp"
#include "search/pareto.hpp"
#include "search/result_table.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;

namespace {

// The indices (into steps, among the first q) of the search's choice: the best observed point,
// or the non-dominated front.
std::vector<std::size_t> chosen(const std::vector<Step>& steps, std::size_t q) {
    std::vector<std::size_t> scored;
    for (std::size_t i = 0; i < std::min(q, steps.size()); ++i)
        if (!steps[i].observed.empty()) scored.push_back(i);
    if (scored.empty()) return {};
    if (steps[scored[0]].observed.size() == 1) {
        std::size_t best = scored[0];
        for (std::size_t i : scored)
            if (steps[i].observed[0] < steps[best].observed[0]) best = i;
        return {best};
    }
    std::vector<search::Losses> points;
    for (std::size_t i : scored) points.push_back(steps[i].observed);
    const std::vector<int> rank = search::nondominated_ranks(points);
    std::vector<std::size_t> front;
    for (std::size_t k = 0; k < scored.size(); ++k)
        if (rank[k] == 0) front.push_back(scored[k]);
    return front;
}

bool multi_objective(const search::SearchSpec& x) { return x.objectives.size() > 1; }

// The hypervolume reference point, as losses: the given bounds, else the worst true value seen.
search::Losses reference_point(const search::SearchSpec& x, const std::vector<Trace>& traces) {
    search::Losses ref(x.objectives.size(), -INFINITY);
    for (const auto& t : traces)
        for (const auto& st : t.steps)
            for (std::size_t k = 0; k < st.truth.size(); ++k) ref[k] = std::max(ref[k], st.truth[k]);
    for (std::size_t k = 0; k < x.objectives.size(); ++k)
        if (const auto it = x.reference.find(x.objectives[k].metric); it != x.reference.end())
            ref[k] = x.objectives[k].minimize ? it->second : -it->second;
    return ref;
}

// What a search's hypervolume is divided by: the table's own front's (its configurations'
// means), or without a table the box between the best values seen and the reference point.
double volume_scale(const search::Experiment& e, const search::Stage& s, const search::Losses& ref,
                   const std::vector<Trace>& traces) {
    const search::SearchSpec& x = s.search;
    std::optional<search::ResultTable> table;
    if (!x.table.empty() && fs::exists(x.table)) table = search::load_stage_table(e, s);
    // a metric the table lacks (a latency timed here) leaves its front unknown: the box instead
    const bool table_front = table && std::all_of(x.objectives.begin(), x.objectives.end(),
                                                  [&](const search::Objective& o) { return table->has_metric(o.metric); });
    if (!table_front) {
        search::Losses ideal(ref.size(), INFINITY);
        for (const auto& t : traces)
            for (const auto& st : t.steps)
                for (std::size_t k = 0; k < st.truth.size(); ++k) ideal[k] = std::min(ideal[k], st.truth[k]);
        double box = 1;
        for (std::size_t k = 0; k < ref.size(); ++k) box *= std::max(0.0, ref[k] - ideal[k]);
        return box;
    }
    std::vector<search::Losses> points;
    for (const auto& [key, mean] : table->means())
        points.push_back(search::objective_losses(x, search::objective_values(x, [&](const std::string& m) {
                                                       const auto it = mean.find(m);
                                                       return it == mean.end() ? NAN : it->second;
                                                   })));
    return search::hypervolume(points, ref);
}

// The score of a search after q evaluations: its choice's true value (one objective; in the
// objective's own direction) or its front's true hypervolume (over the table's, when known).
double score(const search::SearchSpec& x, const Trace& t, std::size_t q, const search::Losses& ref, double best_volume) {
    const auto pick = chosen(t.steps, q);
    if (pick.empty()) return NAN;
    if (!multi_objective(x)) {
        const double loss = t.steps[pick[0]].truth.empty() ? NAN : t.steps[pick[0]].truth[0];
        return x.objectives[0].minimize ? loss : -loss;
    }
    std::vector<search::Losses> front;
    for (std::size_t i : pick) front.push_back(t.steps[i].truth);
    const double v = search::hypervolume(front, ref);
    return best_volume > 0 ? v / best_volume : v;
}

std::vector<std::size_t> checkpoints(const search::SearchSpec& x) {
    std::vector<std::size_t> c;
    if (!x.report_at.empty()) {
        for (int q : x.report_at) c.push_back(std::size_t(q));
        return c;
    }
    const int budget = x.budget;
    for (int q : {budget / 4, budget / 2, budget})
        if (q >= 1 && (c.empty() || c.back() != std::size_t(q))) c.push_back(std::size_t(q));
    return c;
}

std::string num(double v) {
    if (!std::isfinite(v)) return "";
    if (v == std::floor(v) && std::abs(v) < 1e15) return fmt::format("{}", std::int64_t(v));  // MACs, params
    return fmt::format("{:.6g}", v);
}

std::string stage_label(const search::Stage& s) {
    return s.search.strategy.name == s.name ? s.name : fmt::format("{} ({})", s.name, s.search.strategy.name);
}

// A multi-objective stage's first search: its front as a table (what it observed, and the true
// values where a table knows them) and every evaluated point against the first two objectives,
// the front marked.
std::string front_section(const std::string& dir, const search::Stage& s, const Trace& t, std::vector<std::string>& written) {
    const search::SearchSpec& x = s.search;
    const auto front = chosen(t.steps, t.steps.size());
    Table ft;
    ft.add_column("trial");
    ft.add_column("configuration");
    for (const auto& o : x.objectives) ft.add_column(o.metric, true);
    const bool truth = !x.table.empty();
    if (truth) ft.add_column(x.objectives[0].metric + " (true)", true);
    std::vector<std::size_t> order = front;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return t.steps[a].observed[1] < t.steps[b].observed[1]; });
    auto value = [&](const search::Losses& l, std::size_t k) { return x.objectives[k].minimize ? l[k] : -l[k]; };
    for (std::size_t i : order) {
        const Step& st = t.steps[i];
        std::string config;
        for (const auto& [name, d] : x.space) config += (config.empty() ? "" : " ") + name + "=" + setting(*st.record, name);
        std::vector<std::string> row = {st.record->id, config};
        for (std::size_t k = 0; k < x.objectives.size(); ++k) row.push_back(num(value(st.observed, k)));
        if (truth) row.push_back(st.truth.empty() ? "" : num(value(st.truth, 0)));
        ft.add_row(std::move(row));
    }
    Series all{"evaluated", {}, {}}, on_front{"front", {}, {}};
    for (std::size_t i = 0; i < t.steps.size(); ++i) {
        if (t.steps[i].observed.empty()) continue;
        const Point p{value(t.steps[i].observed, 1), value(t.steps[i].observed, 0)};
        (std::find(front.begin(), front.end(), i) != front.end() ? on_front : all).points.push_back(p);
    }
    const std::string name = fmt::format("search-{}-front.svg", s.name);
    const bool log_x = x.objectives[1].metric == "macs" || x.objectives[1].metric == "params";
    write_atomically((fs::path(dir) / name).string(),
                     svg_plot(fmt::format("{}: search {} ({} evaluated)", s.name, t.search, t.steps.size()),
                              x.objectives[1].metric, x.objectives[0].metric, {all, on_front}, Marks::dots,
                              Axes{.log_x = log_x}));
    written.push_back((fs::path(dir) / name).string());
    return fmt::format("### Front of stage '{}', search {} ({} of {} evaluated points non-dominated)\n\n", s.name, t.search,
                       front.size(), t.steps.size()) +
           render(ft, Format::md) + fmt::format("\n![front]({})\n\n", name);
}

// A search stage's scores at its checkpoints (evaluation counts), one per independent search.
struct StageScores {
    const search::Stage* stage;
    std::vector<std::size_t> at;
    std::vector<std::vector<double>> scores;  // per checkpoint, per search
};

// Mean ± std of the score over the searches, at about 50 evaluation counts up to the budget.
Series best_so_far(const search::Stage& s, const std::vector<Trace>& traces, const search::Losses& ref,
                   double best_volume) {
    const search::SearchSpec& x = s.search;
    Series curve{stage_label(s), {}, {}};
    const std::size_t step = std::max<std::size_t>(1, std::size_t(x.budget) / 50);
    std::vector<std::size_t> qs;
    for (std::size_t q = step; q <= std::size_t(x.budget); q += step) qs.push_back(q);
    if (qs.empty() || qs.back() != std::size_t(x.budget)) qs.push_back(std::size_t(x.budget));
    for (std::size_t q : qs) {
        std::vector<double> v;
        for (const auto& t : traces)
            if (t.steps.size() >= q) v.push_back(score(x, t, q, ref, best_volume));
        const Spread sp = spread(v);
        if (sp.n > 0) curve.points.push_back({double(q), sp.mean, sp.std});
    }
    return curve;
}

Table searches_table() {
    Table searches;
    for (const char* c : {"stage", "strategy", "search"}) searches.add_column(c);
    for (const char* c : {"evaluated", "infeasible", "failed"}) searches.add_column(c, true);
    searches.add_column("best_trial");
    searches.add_column("best_configuration");
    searches.add_column("score_at_budget", true);
    return searches;
}

// searches.csv's row for one search: what it evaluated and chose, and its score at the end.
std::vector<std::string> search_row(const search::Stage& s, const Trace& t, const search::Losses& ref, double best_volume) {
    const search::SearchSpec& x = s.search;
    const auto pick = chosen(t.steps, t.steps.size());
    int failed = 0;
    for (const auto& st : t.steps) failed += st.record->status == "failed";
    std::string config, trial;
    if (multi_objective(x)) {
        config = fmt::format("front of {}", pick.size());
    } else if (!pick.empty()) {
        trial = t.steps[pick[0]].record->id;
        for (const auto& [name, d] : x.space) config += (config.empty() ? "" : " ") + name + "=" + setting(*t.steps[pick[0]].record, name);
    }
    return {s.name, x.strategy.name, std::to_string(t.search), std::to_string(t.steps.size()),
            std::to_string(t.infeasible), std::to_string(failed), trial, config,
            num(score(x, t, t.steps.size(), ref, best_volume))};
}

// What the score of the first search stage is (the others share its objectives).
std::string score_explanation(const search::SearchSpec& first) {
    std::vector<std::string> objective_names;
    for (const auto& o : first.objectives) objective_names.push_back(o.metric + (o.minimize ? " min" : " max"));
    if (!multi_objective(first))
        return fmt::format("Objective {}. Score: the {} of the configuration a search ranks best by what it observed{}.\n\n",
                           objective_names[0], first.objectives[0].metric,
                           !first.table.empty() ? " (its true value: the mean over the table's seeds)" : "");
    return fmt::format("Objectives {}. Score: the hypervolume of a search's non-dominated front (its points' true "
                       "values){}. Reference point: {}.\n\n",
                       fmt::join(objective_names, ", "),
                       !first.table.empty() ? ", over that of the table's own front"
                                            : ", over the box between the best values seen and the reference point",
                       first.reference.empty() ? "the worst values seen" : fmt::format("{}", first.reference));
}

// Every stage's scores at every checkpoint, each against the first random stage's at the same
// count (the difference in means over its standard error).
Table comparison_table(const std::vector<StageScores>& all) {
    Table t;
    t.add_column("stage");
    t.add_column("searches", true);
    std::vector<std::size_t> columns;  // every stage's evaluation counts, in order
    for (const auto& sc : all) columns.insert(columns.end(), sc.at.begin(), sc.at.end());
    std::sort(columns.begin(), columns.end());
    columns.erase(std::unique(columns.begin(), columns.end()), columns.end());
    for (std::size_t q : columns) t.add_column(fmt::format("at {}", q));
    t.add_column("vs random (diff / s.e.)");
    const StageScores* random = nullptr;
    for (const auto& sc : all)
        if (sc.stage->search.strategy.name == "random") {
            random = &sc;
            break;
        }
    auto scores_at = [](const StageScores& sc, std::size_t q) -> const std::vector<double>* {
        const auto it = std::find(sc.at.begin(), sc.at.end(), q);
        return it == sc.at.end() ? nullptr : &sc.scores[std::size_t(it - sc.at.begin())];
    };
    for (const auto& sc : all) {
        std::vector<std::string> row = {stage_label(*sc.stage), std::to_string(sc.scores.empty() ? 0 : sc.scores.back().size())};
        std::vector<std::string> versus;
        for (std::size_t q : columns) {
            const auto* mine = scores_at(sc, q);
            const Spread sp = mine ? spread(*mine) : Spread{};
            row.push_back(sp.n ? spread_text(sp) : "");
            const auto* theirs = random && random != &sc ? scores_at(*random, q) : nullptr;
            if (!theirs || sp.n < 2) continue;
            const Spread r = spread(*theirs);
            if (r.n < 2) continue;  // a standard error needs two searches a side
            const double se = std::sqrt(sp.std * sp.std / double(sp.n) + r.std * r.std / double(r.n));
            versus.push_back(se > 0 ? fmt::format("at {}: {:+.4f} ({:+.1f})", q, sp.mean - r.mean, (sp.mean - r.mean) / se)
                                    : fmt::format("at {}: {:+.4f}", q, sp.mean - r.mean));
        }
        row.push_back(fmt::format("{}", fmt::join(versus, ", ")));
        t.add_row(std::move(row));
    }
    return t;
}

}  // namespace

std::map<std::string, int> pareto_ranks(const std::vector<TrialRecord>& records, const search::Experiment& e) {
    std::map<std::string, int> ranks;
    for (const auto& s : e.stages) {
        if (s.kind != search::Stage::Kind::search) continue;
        for (const auto& r : records)
            if (r.stage == s.name && r.status == "infeasible") ranks[r.id] = -1;  // refused: never ranked
        for (const auto& t : traces_of(records, s)) {
            std::vector<search::Losses> points;
            std::vector<const TrialRecord*> who;
            for (const auto& st : t.steps) {
                ranks[st.record->id] = -1;
                if (st.observed.empty()) continue;
                points.push_back(st.observed);
                who.push_back(st.record);
            }
            const std::vector<int> r = search::nondominated_ranks(points);
            for (std::size_t i = 0; i < who.size(); ++i) ranks[who[i]->id] = r[i];
        }
    }
    return ranks;
}

std::string search_reports(const std::string& dir, const std::vector<TrialRecord>& records, const search::Experiment& e,
                           std::vector<std::string>& written) {
    std::vector<StageScores> all;
    Table searches = searches_table();
    std::vector<Series> curves;
    std::string fronts;
    for (const auto& s : e.stages) {
        if (s.kind != search::Stage::Kind::search) continue;
        const search::SearchSpec& x = s.search;
        const std::vector<Trace> traces = traces_of(records, s);
        if (traces.empty()) continue;
        const search::Losses ref = reference_point(x, traces);
        const double best_volume = multi_objective(x) ? volume_scale(e, s, ref, traces) : 0;
        curves.push_back(best_so_far(s, traces, ref, best_volume));
        StageScores sc{&s, checkpoints(x), {}};
        sc.scores.resize(sc.at.size());
        for (const auto& t : traces) {
            for (std::size_t k = 0; k < sc.at.size(); ++k)
                if (t.steps.size() >= sc.at[k]) sc.scores[k].push_back(score(x, t, sc.at[k], ref, best_volume));
            searches.add_row(search_row(s, t, ref, best_volume));
        }
        all.push_back(std::move(sc));
        if (multi_objective(x)) fronts += front_section(dir, s, traces.front(), written);
    }
    if (all.empty()) return "";
    const search::SearchSpec& first = all.front().stage->search;
    std::string md = "## Search\n\n" + score_explanation(first) + render(comparison_table(all), Format::md);
    md += "\nmean ± std over the independent searches (n of them); against the random stage: the difference in means "
          "and its ratio to the standard error sqrt(s1²/n1 + s2²/n2).\n";
    const fs::path csv = fs::path(dir) / "searches.csv";
    write_atomically(csv.string(), render(searches, Format::csv));
    written.push_back(csv.string());
    const bool mo = multi_objective(first);
    const std::string svg_name = "search-best-so-far.svg";
    write_atomically((fs::path(dir) / svg_name).string(),
                     svg_plot(mo ? "Hypervolume of the front against evaluations" : "Best so far against evaluations",
                              "evaluations", mo ? "hypervolume" : first.objectives[0].metric + " of the choice", curves,
                              Marks::curve, Axes{}));
    written.push_back((fs::path(dir) / svg_name).string());
    md += fmt::format("\n![best so far]({})\n\n", svg_name);
    return md + fronts;
}

}  // namespace deeper::runners
