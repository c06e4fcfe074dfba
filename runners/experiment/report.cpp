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
#include "runners/experiment/svg.hpp"
#include "runners/table.hpp"

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

double final_metric(const TrialRecord& r, const std::string& m) {
    if (auto it = r.result.find(m); it != r.result.end()) return it->second;
    if (r.epochs.empty()) return NAN;
    const auto& last = r.epochs.back();
    if (m == "train_eval_error") {
        auto it = last.find("train_eval_top1");
        return it == last.end() ? NAN : 1 - it->second;
    }
    auto it = last.find(m);
    return it == last.end() ? NAN : it->second;
}

std::string setting(const TrialRecord& r, const std::string& key) {
    if (auto it = r.settings.find(key); it != r.settings.end()) return it->second;
    if (auto it = r.labels.find(key); it != r.labels.end()) return it->second;
    if (key == "stage") return r.stage;
    return "";
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

}  // namespace

std::vector<std::string> write_reports(const std::string& dir, const search::Experiment* e) {
    const auto records = read_journals(dir);
    std::vector<std::string> written;

    // Columns: every swept knob or label of any trial, in first-seen order.
    std::vector<std::string> swept;
    for (const auto& r : records) {
        for (const auto& k : r.swept)
            if (std::find(swept.begin(), swept.end(), k) == swept.end()) swept.push_back(k);
        for (const auto& [k, v] : r.labels)
            if (std::find(swept.begin(), swept.end(), k) == swept.end()) swept.push_back(k);
    }

    Table t;
    for (const char* c : {"trial_id", "stage", "status", "error"}) t.add_column(c);
    t.add_column("net");
    const std::vector<std::string> measured = {
        "seed", "params", "macs", "epochs", "train_loss", "train_eval_error", "val_loss", "val_top1", "val_top5",
        "best_val_top1", "test_loss", "test_top1", "test_top5", "wall_s", "train_img_per_s", "threads",
        "trials_in_parallel"};
    for (const auto& k : swept)
        if (k != "net") t.add_column(setting_column(k, measured));
    for (const auto& c : measured) t.add_column(c, true);
    const bool precision_swept = std::count(swept.begin(), swept.end(), "precision") > 0;
    if (!precision_swept) t.add_column("precision");
    t.add_column("isa");
    t.add_column("deeper_version");
    for (const auto& r : records) {
        std::vector<std::string> row = {r.id, r.stage, r.status, r.info.count("error") ? r.info.at("error") : "",
                                        setting(r, "net")};
        for (const auto& k : swept)
            if (k != "net") row.push_back(setting(r, k));
        double best = NAN;
        for (const auto& ep : r.epochs)
            if (auto it = ep.find("val_top1"); it != ep.end() && !(it->second <= best)) best = it->second;
        auto res = [&](const char* k) {
            auto it = r.result.find(k);
            return it == r.result.end() ? std::string() : num(it->second);
        };
        row.insert(row.end(), {num(r.seed), res("params"), res("macs"), std::to_string(r.epochs.size()),
                               num(final_metric(r, "train_loss")), num(final_metric(r, "train_eval_error")),
                               num(final_metric(r, "val_loss")), num(final_metric(r, "val_top1")),
                               num(final_metric(r, "val_top5")), num(best), res("test_loss"), res("test_top1"),
                               res("test_top5"), res("wall_s"), res("train_img_per_s"), res("threads"),
                               res("trials_in_parallel")});
        if (!precision_swept) row.push_back(trial_precision(r));
        row.insert(row.end(), {r.info.count("isa") ? r.info.at("isa") : "",
                               r.info.count("deeper_version") ? r.info.at("deeper_version") : ""});
        t.add_row(std::move(row));
    }
    write_file(fs::path(dir) / "results.csv", render(t, Format::csv), written);

    Table c;
    for (const char* col : {"trial_id", "stage", "net"}) c.add_column(col);
    const std::vector<std::string> per_epoch = {"epoch", "lr", "train_loss", "train_top1", "val_loss",
                                                "val_top1", "val_top5", "train_eval_loss", "train_eval_top1",
                                                "train_eval_error", "epoch_s", "img_per_s"};
    for (const auto& k : swept)
        if (k != "net") c.add_column(setting_column(k, per_epoch));
    for (const auto& col : per_epoch) c.add_column(col, true);
    for (const auto& r : records)
        for (const auto& ep : r.epochs) {
            std::vector<std::string> row = {r.id, r.stage, setting(r, "net")};
            for (const auto& k : swept)
                if (k != "net") row.push_back(setting(r, k));
            auto m = [&](const char* k) {
                auto it = ep.find(k);
                return it == ep.end() ? std::string() : num(it->second);
            };
            const auto te = ep.find("train_eval_top1");
            row.insert(row.end(), {m("epoch"), m("lr"), m("train_loss"), m("train_top1"), m("val_loss"),
                                   m("val_top1"), m("val_top5"), m("train_eval_loss"), m("train_eval_top1"),
                                   te == ep.end() ? "" : num(1 - te->second), m("epoch_s"), m("img_per_s")});
            c.add_row(std::move(row));
        }
    write_file(fs::path(dir) / "curves.csv", render(c, Format::csv), written);

    // summary.md
    std::string md = fmt::format("# {}\n\n", e ? e->name : fs::path(dir).filename().string());
    if (e && !e->description.empty()) md += e->description + "\n\n";
    int done = 0, failed = 0, other = 0;
    for (const auto& r : records) (r.status == "done" ? done : r.status == "failed" ? failed : other)++;
    md += fmt::format("{} trials: {} done, {} failed, {} unfinished.\n\n", records.size(), done, failed, other);
    if (e) {
        for (const auto& rt : e->tables) {
            md += fmt::format("## {}\n\n", rt.title.empty() ? fmt::format("{} by {}{}", rt.metric, rt.rows,
                                                                         rt.columns.empty() ? "" : " and " + rt.columns)
                                                            : rt.title);
            std::vector<std::string> rows, cols;
            std::map<std::pair<std::string, std::string>, std::vector<double>> cells;
            for (const auto& r : records) {
                if (r.status != "done" || (!rt.stage.empty() && r.stage != rt.stage)) continue;
                const std::string rv = setting(r, rt.rows), cv = rt.columns.empty() ? rt.metric : setting(r, rt.columns);
                if (std::find(rows.begin(), rows.end(), rv) == rows.end()) rows.push_back(rv);
                if (std::find(cols.begin(), cols.end(), cv) == cols.end()) cols.push_back(cv);
                cells[{rv, cv}].push_back(final_metric(r, rt.metric));
            }
            sort_if_numeric(rows);
            sort_if_numeric(cols);
            Table mt;
            mt.add_column(rt.rows);
            for (const auto& cv : cols) mt.add_column(rt.columns.empty() ? cv : rt.columns + "=" + cv, true);
            for (const auto& rv : rows) {
                std::vector<std::string> row = {rv};
                for (const auto& cv : cols) {
                    auto it = cells.find({rv, cv});
                    if (it == cells.end()) {
                        row.push_back("");
                        continue;
                    }
                    double s = 0;
                    for (double v : it->second) s += v;  // mean over repeats
                    row.push_back(fmt::format("{:.4f}{}", s / it->second.size(),
                                              it->second.size() > 1 ? fmt::format(" (n={})", it->second.size()) : ""));
                }
                mt.add_row(std::move(row));
            }
            md += render(mt, Format::md) + "\n";
        }
    }
    md += "## Best trial per stage (by val_top1)\n\n";
    Table bt;
    for (const char* col : {"stage", "trial_id", "net", "settings"}) bt.add_column(col);
    for (const char* col : {"val_top1", "test_top1", "macs"}) bt.add_column(col, true);
    std::vector<std::string> stages;
    for (const auto& r : records)
        if (std::find(stages.begin(), stages.end(), r.stage) == stages.end()) stages.push_back(r.stage);
    for (const auto& st : stages) {
        const TrialRecord* best = nullptr;
        for (const auto& r : records)
            if (r.stage == st && r.status == "done" &&
                (!best || final_metric(r, "val_top1") > final_metric(*best, "val_top1")))
                best = &r;
        if (!best) continue;
        std::string swept_text;
        for (const auto& k : best->swept)
            if (k != "net") swept_text += (swept_text.empty() ? "" : ", ") + k + "=" + setting(*best, k);
        for (const auto& [k, v] : best->labels) swept_text += (swept_text.empty() ? "" : ", ") + k + "=" + v;
        bt.add_row({st, best->id, setting(*best, "net"), swept_text, num(final_metric(*best, "val_top1")),
                    num(final_metric(*best, "test_top1")),
                    best->result.count("macs") ? num(best->result.at("macs")) : ""});
    }
    md += render(bt, Format::md);
    if (failed) {
        md += "\n## Failed trials\n\n";
        for (const auto& r : records)
            if (r.status == "failed")
                md += fmt::format("- `{}` ({}): {}\n", r.id, r.stage, r.info.count("error") ? r.info.at("error") : "");
    }

    // plots: the experiment's, or by default one curve plot per stage
    std::vector<search::ReportPlot> plots;
    if (e) plots = e->plots;
    if (plots.empty())
        for (const auto& st : stages) plots.push_back({"", st, "curves", "val_top1", "epoch", ""});
    for (std::size_t i = 0; i < plots.size(); ++i) {
        const auto& p = plots[i];
        std::map<std::string, Series> groups;
        std::vector<std::string> order;
        for (const auto& r : records) {
            if (!p.stage.empty() && r.stage != p.stage) continue;
            std::string g = p.group.empty() ? r.id : setting(r, p.group);
            if (p.group.empty()) {
                g.clear();
                for (const auto& k : r.swept) g += (g.empty() ? "" : " ") + setting(r, k);
                if (g.empty()) g = r.id;
            }
            if (!groups.count(g)) order.push_back(g);
            Series& s = groups[g];
            s.name = g;
            if (p.kind == "curves") {
                if (!p.group.empty() && !s.points.empty()) {  // one line per group: the first trial
                    continue;
                }
                for (const auto& ep : r.epochs) {
                    const double y = p.metric == "train_eval_error"
                                         ? 1 - (ep.count("train_eval_top1") ? ep.at("train_eval_top1") : NAN)
                                         : (ep.count(p.metric) ? ep.at(p.metric) : NAN);
                    s.points.push_back({ep.count("epoch") ? ep.at("epoch") : NAN, y});
                }
            } else if (r.status == "done") {
                const double x = p.x == "params" && r.result.count("params") ? r.result.at("params")
                                 : r.result.count("macs")                    ? r.result.at("macs")
                                                                             : NAN;
                s.points.push_back({x, final_metric(r, p.metric)});
            }
        }
        std::vector<Series> series;
        for (const auto& g : order) series.push_back(groups[g]);
        const std::string title = p.title.empty() ? fmt::format("{}{}", p.metric, p.stage.empty() ? "" : " (" + p.stage + ")") : p.title;
        const std::string name = fmt::format("plot{}-{}-{}.svg", i + 1, p.stage.empty() ? "all" : p.stage, p.metric);
        write_file(fs::path(dir) / name,
                   svg_plot(title, p.kind == "curves" ? "epoch" : p.x, p.metric, series, p.kind == "curves",
                            p.kind == "scatter"),
                   written);
        md += fmt::format("\n![{}]({})\n", title, name);
    }
    write_file(fs::path(dir) / "summary.md", md, written);
    return written;
}

}  // namespace deeper::runners
