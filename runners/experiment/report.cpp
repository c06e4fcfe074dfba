#include "runners/experiment/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "runners/atomic_file.hpp"
#include "runners/experiment/journal.hpp"
#include "runners/experiment/figures.hpp"
#include "runners/experiment/report_claims.hpp"
#include "runners/experiment/search_report.hpp"
#include "runners/experiment/svg.hpp"
#include "runners/experiment/trial_values.hpp"
#include "runners/table.hpp"
#include "runners/train/epoch_metrics.hpp"
#include "search/metrics.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;

namespace {

// Table rows or columns that are all numbers (alpha, phi, depth) read best in numeric order;
// anything else (net names, scaling kinds) keeps the order the trials were defined in.
void sort_if_numeric(std::vector<std::string>& values) {
    std::vector<std::pair<double, std::string>> keyed;
    for (const auto& v : values) {
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || *end != '\0') return;
        keyed.emplace_back(x, v);
    }
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = keyed[i].second;
}

std::string num(double v) {
    if (!std::isfinite(v)) return "";
    if (v == std::floor(v) && std::abs(v) < 1e15) return fmt::format("{}", std::int64_t(v));
    return fmt::format("{:.6g}", v);
}

// The precision a trial trained in (journals from before bf16 trained in fp32).
std::string trial_precision(const TrialRecord& r) {
    if (auto it = r.info.find("precision"); it != r.info.end()) return it->second;
    const std::string s = setting(r, "precision");
    return !s.empty() ? s : r.status == "done" ? "f32" : "";
}

void write_file(const fs::path& p, const std::string& text, std::vector<std::string>& written) {
    write_atomically(p.string(), text);
    written.push_back(p.string());
}

// A swept setting's column. Settings that share a name with a measured column (lr, epochs,
// threads, seed) become setting_NAME, so a CSV never has two columns of one name.
std::string setting_column(const std::string& key, const std::vector<std::string>& measured) {
    return std::find(measured.begin(), measured.end(), key) == measured.end() ? key : "setting_" + key;
}

// Every swept knob or label of any trial, in first-seen order: the report's setting columns.
std::vector<std::string> swept_keys(const std::vector<TrialRecord>& records) {
    std::vector<std::string> swept;
    auto add = [&](const std::string& k) {
        if (k != "net" && std::find(swept.begin(), swept.end(), k) == swept.end()) swept.push_back(k);
    };
    for (const auto& r : records) {
        for (const auto& k : r.swept) add(k);
        for (const auto& [k, v] : r.labels) add(k);
    }
    return swept;
}

// results.csv: one row per trial, failed and unfinished ones included.
// With search stages, `ranks` (search_report.hpp) adds feasible and pareto_rank.
Table results_table(const std::vector<TrialRecord>& records, const std::vector<std::string>& swept,
                    const std::map<std::string, int>& ranks) {
    const std::vector<std::string> measured = {
        "seed", "params", "macs", "epochs", "train_loss", "train_eval_error", "val_loss", "val_top1", "val_top5",
        "best_val_top1", "test_loss", "test_top1", "test_top5", "wall_s", "train_img_per_s", "threads",
        "trials_in_parallel"};
    const bool precision_swept = std::count(swept.begin(), swept.end(), "precision") > 0;
    Table t;
    for (const char* c : {"trial_id", "stage", "status", "error", "net"}) t.add_column(c);
    for (const auto& k : swept) t.add_column(setting_column(k, measured));
    for (const auto& c : measured) t.add_column(c, true);
    if (!precision_swept) t.add_column("precision");
    t.add_column("isa");
    t.add_column("conv_plan");
    t.add_column("deeper_version");
    const bool rungs = std::any_of(records.begin(), records.end(), [](const TrialRecord& r) { return !r.rungs.empty(); });
    if (rungs) t.add_column("stopped_at_rung", true);  // early stopping: the rung a stopped trial reached
    // a search with a latency or throughput objective, reward or constraint: measured before training
    std::vector<std::string> timed;
    for (const auto& [column, group] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"latency_ms", {"latency_ms", "latency_p25_ms", "latency_p75_ms"}},
             {"throughput", {"throughput", "throughput_batch"}}})
        if (std::any_of(records.begin(), records.end(), [&](const TrialRecord& r) { return r.result.count(column) > 0; }))
            timed.insert(timed.end(), group.begin(), group.end());
    for (const auto& c : timed) t.add_column(c, true);
    if (!ranks.empty()) {
        t.add_column("feasible");
        t.add_column("pareto_rank", true);
    }
    for (const auto& r : records) {
        auto info = [&](const char* k) { return r.info.count(k) ? r.info.at(k) : std::string(); };
        auto res = [&](const char* k) { return r.result.count(k) ? num(r.result.at(k)) : std::string(); };
        std::vector<std::string> row = {r.id, r.stage, r.status, info("error"), setting(r, "net")};
        for (const auto& k : swept) row.push_back(setting(r, k));
        row.insert(row.end(), {num(r.seed), res("params"), res("macs"), std::to_string(r.epochs.size()),
                               num(final_metric(r, "train_loss")), num(final_metric(r, "train_eval_error")),
                               num(final_metric(r, "val_loss")), num(final_metric(r, "val_top1")),
                               num(final_metric(r, "val_top5")), num(final_metric(r, "best_val_top1")), res("test_loss"),
                               res("test_top1"), res("test_top5"), res("wall_s"), res("train_img_per_s"),
                               res("threads"), res("trials_in_parallel")});
        if (!precision_swept) row.push_back(trial_precision(r));
        row.insert(row.end(), {info("isa"), info("conv_plan"), info("deeper_version")});
        if (rungs) row.push_back(r.status == "stopped" ? info("rung") : "");
        for (const auto& c : timed) row.push_back(res(c.c_str()));
        if (!ranks.empty()) {
            const auto it = ranks.find(r.id);
            row.push_back(it == ranks.end() ? "" : r.status == "infeasible" ? "false" : "true");
            row.push_back(it == ranks.end() || it->second < 0 ? "" : std::to_string(it->second));
        }
        t.add_row(std::move(row));
    }
    return t;
}

// curves.csv: one row per trial per epoch.
Table curves_table(const std::vector<TrialRecord>& records, const std::vector<std::string>& swept) {
    Table c;
    for (const char* col : {"trial_id", "stage", "net"}) c.add_column(col);
    for (const auto& k : swept) c.add_column(setting_column(k, epoch_metric_names()));
    for (const auto& col : epoch_metric_names()) c.add_column(col, true);
    for (const auto& r : records)
        for (const auto& ep : r.epochs) {
            std::vector<std::string> row = {r.id, r.stage, setting(r, "net")};
            for (const auto& k : swept) row.push_back(setting(r, k));
            for (const auto& m : epoch_metric_names()) row.push_back(num(epoch_metric(ep, m)));
            c.add_row(std::move(row));
        }
    return c;
}

// A configuration: the trial's stage and settings, except what only repeats it (seed, repeat).
std::string configuration(const TrialRecord& r, const std::vector<std::string>& keys) {
    std::string c = r.stage;
    for (const auto& k : keys) c += '\x1f' + setting(r, k);
    return c;
}

// aggregate.csv: the finished trials of each configuration, seeds pooled: n, mean and std.
Table aggregate_table(const std::vector<TrialRecord>& records, const std::vector<std::string>& swept) {
    std::vector<std::string> keys;
    for (const auto& k : swept)
        if (k != "seed" && k != "repeat") keys.push_back(k);
    const std::vector<std::string> metrics = {"test_top1", "val_top1", "best_val_top1", "train_eval_error",
                                              "train_loss", "test_loss"};
    Table t;
    for (const char* c : {"stage", "net"}) t.add_column(c);
    for (const auto& k : keys) t.add_column(setting_column(k, {"n", "params", "macs"}));
    for (const char* c : {"n", "params", "macs"}) t.add_column(c, true);
    for (const auto& m : metrics) {
        t.add_column(m + "_mean", true);
        t.add_column(m + "_std", true);
    }
    std::vector<std::string> order;
    std::map<std::string, std::vector<const TrialRecord*>> groups;
    for (const auto& r : records) {
        if (r.status != "done") continue;
        const std::string c = configuration(r, keys);
        if (!groups.count(c)) order.push_back(c);
        groups[c].push_back(&r);
    }
    for (const auto& c : order) {
        const auto& g = groups[c];
        const TrialRecord& first = *g.front();
        std::vector<std::string> row = {first.stage, setting(first, "net")};
        for (const auto& k : keys) row.push_back(setting(first, k));
        auto res = [&](const char* k) { return first.result.count(k) ? num(first.result.at(k)) : std::string(); };
        row.insert(row.end(), {std::to_string(g.size()), res("params"), res("macs")});
        for (const auto& m : metrics) {
            std::vector<double> v;
            for (const auto* r : g) v.push_back(final_metric(*r, m));
            const Spread s = spread(v);
            row.push_back(num(s.mean));
            row.push_back(num(s.std));
        }
        t.add_row(std::move(row));
    }
    return t;
}

// A table cell: the trials' mean ± std; with a threshold, the trials that never reached it are
// counted, not hidden.
std::string cell_text(const std::vector<double>& values, bool threshold) {
    const Spread s = spread(values);
    const std::size_t missing = values.size() - s.n;
    if (missing == 0 || !threshold) return spread_text(s);
    if (s.n == 0) return fmt::format("never (n={})", values.size());
    return fmt::format("{}; never: {} of {}", spread_text(s), missing, values.size());
}

// The swept settings (seed and the shown ones aside) in which a cell's trials differ, with
// their values: empty when the cell is one configuration's seeds.
std::map<std::string, std::vector<std::string>> mixed_settings(const std::vector<const TrialRecord*>& trials,
                                                               const search::ReportTable& rt) {
    std::set<std::string> keys;
    for (const auto* r : trials) keys.insert(r->swept.begin(), r->swept.end());
    std::map<std::string, std::vector<std::string>> mixed;
    for (const auto& k : keys) {
        if (k == "seed" || k == "repeat" || k == rt.rows || k == rt.columns) continue;
        std::vector<std::string> values;
        for (const auto* r : trials)
            if (std::find(values.begin(), values.end(), setting(*r, k)) == values.end()) values.push_back(setting(*r, k));
        if (values.size() > 1) mixed[k] = values;
    }
    return mixed;
}

// The trials a table's cells take (finished, and stopped by early stopping with their last
// metrics), and the row and column values of the cell each goes to.
bool in_table(const TrialRecord& r, const search::ReportTable& rt) {
    return (r.status == "done" || r.status == "stopped") && (rt.stage.empty() || r.stage == rt.stage);
}
std::pair<std::string, std::string> cell_of(const TrialRecord& r, const search::ReportTable& rt, const std::string& what) {
    return {setting(r, rt.rows), rt.columns.empty() ? what : setting(r, rt.columns)};
}

}  // namespace

std::string mixed_cells_note(const std::vector<TrialRecord>& records, const search::ReportTable& rt) {
    std::map<std::pair<std::string, std::string>, std::vector<const TrialRecord*>> cells;
    for (const auto& r : records)
        if (in_table(r, rt)) cells[cell_of(r, rt, "")].push_back(&r);
    std::map<std::string, std::vector<std::string>> mixed;
    std::vector<std::string> mixed_cells;
    for (const auto& [cell, trials] : cells) {
        const auto m = mixed_settings(trials, rt);
        if (m.empty()) continue;
        mixed_cells.push_back(rt.rows + "=" + cell.first + (rt.columns.empty() ? "" : ", " + rt.columns + "=" + cell.second));
        for (const auto& [k, values] : m)
            for (const auto& v : values)
                if (std::find(mixed[k].begin(), mixed[k].end(), v) == mixed[k].end()) mixed[k].push_back(v);
    }
    if (mixed.empty()) return "";
    std::string what;
    for (auto& [k, values] : mixed) {
        sort_if_numeric(values);
        std::string list;
        for (const auto& v : values) list += (list.empty() ? "" : ", ") + (v.empty() ? "(unset)" : v);
        what += fmt::format("{}{} {}", what.empty() ? "" : "; ", k, list);
    }
    const std::string which = mixed_cells.size() == 1 ? "the cell " + mixed_cells.front() + " pools"
                              : mixed_cells.size() == cells.size() ? "every cell pools"
                                                                    : fmt::format("{} of {} cells pool", mixed_cells.size(), cells.size());
    return fmt::format("{} trials that differ in more than their seed ({}); the ± spans them too", which, what);
}

// The experiment's `report: tables:` as markdown: a metric by one or two settings, seeds pooled
// into mean ± std (n).
std::string experiment_table(const std::vector<TrialRecord>& records, const search::ReportTable& rt) {
    const std::string what = rt.reach ? fmt::format("epochs to {} {} {:g}", rt.metric,
                                                    search::lower_is_better(rt.metric) ? "<=" : ">=", *rt.reach)
                                      : rt.metric;
    std::string md = fmt::format("## {}\n\n", rt.title.empty() ? fmt::format("{} by {}{}", what, rt.rows,
                                                                             rt.columns.empty() ? "" : " and " + rt.columns)
                                                                : rt.title);
    std::vector<std::string> rows, cols;
    std::map<std::pair<std::string, std::string>, std::vector<double>> cells;
    for (const auto& r : records) {
        if (!in_table(r, rt)) continue;
        const auto [rv, cv] = cell_of(r, rt, what);
        if (std::find(rows.begin(), rows.end(), rv) == rows.end()) rows.push_back(rv);
        if (std::find(cols.begin(), cols.end(), cv) == cols.end()) cols.push_back(cv);
        cells[{rv, cv}].push_back(rt.reach ? epochs_to_reach(r, rt.metric, *rt.reach) : final_metric(r, rt.metric));
    }
    sort_if_numeric(rows);
    sort_if_numeric(cols);
    Table mt;
    mt.add_column(rt.rows);
    for (const auto& cv : cols) mt.add_column(rt.columns.empty() ? cv : rt.columns + "=" + cv, true);
    for (const auto& rv : rows) {
        std::vector<std::string> row = {rv};
        for (const auto& cv : cols) {
            const auto it = cells.find({rv, cv});
            row.push_back(it == cells.end() ? "" : cell_text(it->second, rt.reach.has_value()));
        }
        mt.add_row(std::move(row));
    }
    md += render(mt, Format::md) + "\n";
    if (const std::string note = mixed_cells_note(records, rt); !note.empty()) md += "Note: " + note + ".\n\n";
    return md;
}

namespace {

std::vector<std::string> stages_of(const std::vector<TrialRecord>& records) {
    std::vector<std::string> stages;
    for (const auto& r : records)
        if (std::find(stages.begin(), stages.end(), r.stage) == stages.end()) stages.push_back(r.stage);
    return stages;
}

std::string best_per_stage(const std::vector<TrialRecord>& records) {
    Table bt;
    for (const char* col : {"stage", "trial_id", "net", "settings"}) bt.add_column(col);
    for (const char* col : {"val_top1", "test_top1", "macs"}) bt.add_column(col, true);
    for (const auto& st : stages_of(records)) {
        const TrialRecord* best = best_trial(records, st, "val_top1");
        if (!best) continue;
        std::string swept_text;
        for (const auto& k : best->swept)  // a list item need not set every swept key
            if (k != "net" && !setting(*best, k).empty())
                swept_text += (swept_text.empty() ? "" : ", ") + k + "=" + setting(*best, k);
        for (const auto& [k, v] : best->labels) swept_text += (swept_text.empty() ? "" : ", ") + k + "=" + v;
        bt.add_row({st, best->id, setting(*best, "net"), swept_text, num(final_metric(*best, "val_top1")),
                    num(final_metric(*best, "test_top1")),
                    best->result.count("macs") ? num(best->result.at("macs")) : ""});
    }
    return "## Best trial per stage (the configuration with the best mean val_top1 over its seeds; its best seed)\n\n" + render(bt, Format::md) + "\n";
}

// Early stopping: per stage, the trial-epochs trained against training every trial fully.
std::string early_stop_budget(const std::vector<TrialRecord>& records, const search::Experiment& e) {
    std::string md;
    for (const auto& s : e.stages) {
        if (!s.early_stop) continue;
        long spent = 0, full = 0;
        int done = 0, stopped = 0, failed = 0;
        for (const auto& r : records) {
            if (r.stage != s.name || r.status == "infeasible") continue;  // refused: never trained
            spent += long(r.epochs.size());
            const std::string epochs = setting(r, "epochs");
            full += s.early_stop->max_epochs > 0 ? s.early_stop->max_epochs : epochs.empty() ? 0 : std::stol(epochs);
            done += r.status == "done";
            stopped += r.status == "stopped";
            failed += r.status == "failed";
        }
        if (full == 0) continue;
        md += fmt::format("Early stopping ({}, keep 1/{} per rung) on stage '{}': {} trial-epochs of {} ({:.0f}%); "
                          "{} trained to the end, {} stopped, {} failed.\n\n",
                          s.early_stop->method, s.early_stop->reduction, s.name, spent, full,
                          100.0 * double(spent) / double(full), done, stopped, failed);
    }
    return md;
}

// Per stage, what it cost: trial-epochs, the trials' summed epoch times (training and the
// per-epoch evaluation: compute, whatever ran in parallel) and the span of its journal events
// (wall time, pauses between sessions included).
std::string stage_compute(const std::vector<TrialRecord>& records) {
    Table t;
    t.add_column("stage");
    for (const char* col : {"trials", "trial_epochs", "trial_minutes", "span_minutes"}) t.add_column(col, true);
    for (const auto& st : stages_of(records)) {
        std::size_t trials = 0, epochs = 0;
        double seconds = 0, first = 0, last = 0;
        for (const auto& r : records) {
            if (r.stage != st) continue;
            ++trials;
            epochs += r.epochs.size();
            for (const auto& m : r.epochs)
                if (const auto it = m.find("epoch_s"); it != m.end() && std::isfinite(it->second)) seconds += it->second;
            if (r.first_time > 0) first = first > 0 ? std::min(first, r.first_time) : r.first_time;
            last = std::max(last, r.last_time);
        }
        t.add_row({st, std::to_string(trials), std::to_string(epochs), fmt::format("{:.2f}", seconds / 60),
                   first > 0 ? fmt::format("{:.2f}", (last - first) / 60) : ""});
    }
    return "## Compute per stage\n\n" + render(t, Format::md) +
           "\ntrial_minutes: the trials' epoch times summed (training and each epoch's evaluation); "
           "span_minutes: first to last journal event of the stage (pauses included).\n\n";
}

// What timing the nets cost, per stage (a search with a latency or throughput objective,
// reward or constraint; a stage's `measure`), so a search's share can be set against its compute.
std::string timing_notes(const std::vector<TrialRecord>& records) {
    struct Cost {
        int timed = 0, cached = 0;
        double seconds = 0;
    };
    std::string md;
    for (const char* metric : {"latency_ms", "throughput"}) {
        const std::string key = std::string(metric).substr(0, std::string(metric).find('_')) + "_measure_s";
        std::vector<std::pair<std::string, Cost>> stages;  // in the journal's order
        for (const auto& r : records) {
            const auto it = r.result.find(key);
            if (it == r.result.end()) continue;
            auto at = std::find_if(stages.begin(), stages.end(), [&](const auto& s) { return s.first == r.stage; });
            if (at == stages.end()) at = stages.insert(stages.end(), {r.stage, Cost{}});
            (it->second > 0 ? at->second.timed : at->second.cached) += 1;
            at->second.seconds += it->second;
        }
        for (const auto& [stage, c] : stages)
            md += fmt::format("{}, stage '{}': {} net(s) timed before training, {:.1f} s in all (compiling included), "
                              "{} read back from the machine's cache.\n\n",
                              metric, stage, c.timed, c.seconds, c.cached);
    }
    return md;
}

std::string failed_list(const std::vector<TrialRecord>& records) {
    std::string md;
    for (const auto& r : records)
        if (r.status == "failed")
            md += fmt::format("- `{}` ({}): {}\n", r.id, r.stage, r.info.count("error") ? r.info.at("error") : "");
    return md.empty() ? "" : "\n## Failed trials\n\n" + md;
}

// Writes the plots (the experiment's, or one curve plot per stage); returns their markdown.
std::string write_plots(const std::string& dir, const std::vector<TrialRecord>& records, const search::Experiment* e,
                        std::vector<std::string>& written) {
    std::vector<search::ReportPlot> plots;
    if (e) plots = e->plots;
    if (plots.empty())
        for (const auto& st : stages_of(records)) {
            const bool search_stage = e && std::any_of(e->stages.begin(), e->stages.end(), [&](const search::Stage& s) {
                return s.name == st && s.kind == search::Stage::Kind::search;
            });
            if (search_stage) continue;  // its figures are the search's
            search::ReportPlot p;  // the defaults: val_top1 per epoch
            p.stage = st;
            plots.push_back(p);
        }
    std::string md;
    for (std::size_t i = 0; i < plots.size(); ++i) {
        const auto& p = plots[i];
        const std::string title =
            p.title.empty() ? fmt::format("{}{}", p.metric, p.stage.empty() ? "" : " (" + p.stage + ")") : p.title;
        const std::string name = fmt::format("plot{}-{}-{}.svg", i + 1, p.stage.empty() ? "all" : p.stage, p.metric);
        const std::string svg =
            p.kind == "points" ? svg_categories(title, p.metric, plot_categories(records, p))
                               : svg_plot(title, p.kind == "curves" ? "epoch" : p.x, p.metric, plot_series(records, p),
                                          p.kind == "curves" ? Marks::curve : p.join ? Marks::joined_dots : Marks::dots,
                                          Axes{.log_x = p.kind == "scatter", .log_y = p.log_y});
        write_file(fs::path(dir) / name, svg, written);
        md += fmt::format("\n![{}]({})\n", title, name);
    }
    return md;
}

}  // namespace

std::vector<std::string> write_reports(const std::string& dir, const search::Experiment* e) {
    const auto records = read_journals(dir);
    const auto swept = swept_keys(records);
    std::vector<std::string> written;
    const std::map<std::string, int> ranks = e ? pareto_ranks(records, *e) : std::map<std::string, int>{};
    write_file(fs::path(dir) / "results.csv", render(results_table(records, swept, ranks), Format::csv), written);
    write_file(fs::path(dir) / "curves.csv", render(curves_table(records, swept), Format::csv), written);
    const Table aggregate = aggregate_table(records, swept);
    write_file(fs::path(dir) / "aggregate.csv", render(aggregate, Format::csv), written);

    std::string md = fmt::format("# {}\n\n", e ? e->name : fs::path(dir).filename().string());
    if (e && !e->description.empty()) md += e->description + "\n\n";
    int done = 0, failed = 0, other = 0;
    for (const auto& r : records) (r.status == "done" ? done : r.status == "failed" ? failed : other)++;
    int stopped = 0, refused = 0;
    for (const auto& r : records) stopped += r.status == "stopped", refused += r.status == "infeasible";
    other -= stopped + refused;
    md += fmt::format("{} trials: {} done, {} failed, {}{}{} unfinished.\n\n", records.size(), done, failed,
                      stopped ? fmt::format("{} stopped early, ", stopped) : "",
                      refused ? fmt::format("{} refused by a constraint (never trained), ", refused) : "", other);
    if (e) md += claims_section(records, e->claims);
    if (e) md += early_stop_budget(records, *e);
    if (e)
        for (const auto& rt : e->tables) md += experiment_table(records, rt);
    if (e) md += search_reports(dir, records, *e, written);
    md += best_per_stage(records);
    md += stage_compute(records);
    md += timing_notes(records);
    md += failed_list(records);
    md += write_plots(dir, records, e, written);
    write_file(fs::path(dir) / "summary.md", md, written);
    return written;
}

}  // namespace deeper::runners
