// `deeper check`, `deeper run` and `deeper report`: experiments from YAML.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <cmath>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "runners/cli/commands.hpp"
#include "runners/cpu_budget.hpp"
#include "runners/data/dataset.hpp"
#include "runners/data/loader.hpp"
#include "runners/engine/engine.hpp"
#include "runners/experiment/journal.hpp"
#include "runners/experiment/plan.hpp"
#include "runners/experiment/report.hpp"
#include "runners/experiment/brackets.hpp"
#include "runners/experiment/scheduler.hpp"
#include "runners/output_folder.hpp"
#include "runners/status_line.hpp"
#include "runners/table.hpp"
#include "runners/train/trainer.hpp"
#include "search/expand.hpp"
#include "search/metrics.hpp"
#include "search/net_spec.hpp"

namespace deeper::runners::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false}, g_requeue{false};
extern "C" void on_stop(int) { g_stop.store(true); }
// SLURM's warning signal before a time limit or preemption (sbatch --signal=B:USR1@120):
// checkpoint, then put this array task back in the queue.
extern "C" void on_warning(int) {
    g_requeue.store(true);
    g_stop.store(true);
}

// The job to requeue after the warning signal. For an array task it is ARRAYID_TASKID: one
// task's SLURM_JOB_ID can equal the array's id, and `scontrol requeue ARRAYID` would requeue
// (kill) every running task of the array.
std::optional<std::string> slurm_self() {
    const char* array = std::getenv("SLURM_ARRAY_JOB_ID");
    const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
    if (array && task) return fmt::format("{}_{}", array, task);
    if (const char* job = std::getenv("SLURM_JOB_ID")) return std::string(job);
    return std::nullopt;
}

// Images per second of a training step, measured: a few steps on synthetic data.
double measure_img_per_s(nets::Graph g, int batch, int threads, Precision precision) {
    EngineOptions eo;
    eo.batch = batch;
    eo.threads = threads;
    eo.precision = precision;
    Engine e(std::move(g), eo);
    std::mt19937 rng(1);
    std::normal_distribution<float> n;
    for (std::size_t i = 0; i < e.input_floats(); ++i) e.input()[i] = n(rng);
    std::vector<std::int32_t> labels(batch, 0);
    e.train_step(labels.data());
    const auto t0 = std::chrono::steady_clock::now();
    const int steps = 3;
    for (int i = 0; i < steps; ++i) e.train_step(labels.data());
    return steps * batch / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}


// A compound search constrained by the formula picks candidates whose counted MACs may be far
// from the target (channels rounded to 8, repeats ceil'ed, small maps): say so before it runs.
void warn_ratio_disagreement(const search::Stage& s, const std::vector<PlannedTrial>& trials, std::ostream& out) {
    if (s.kind != search::Stage::Kind::compound_search || s.compound.by_macs) return;
    int off = 0;
    double worst_gap = 0, worst_macs = 0, worst_formula = 0;
    for (const auto& p : trials) {
        const double macs = std::stod(p.trial.labels.at("macs_ratio"));
        const double formula = std::stod(p.trial.labels.at("formula_ratio"));
        if (std::abs(macs - formula) <= s.compound.tolerance) continue;
        ++off;
        if (std::abs(macs - formula) > worst_gap)
            worst_gap = std::abs(macs - formula), worst_macs = macs, worst_formula = formula;
    }
    if (off)
        out << fmt::format("warning: stage '{}': {} of {} candidates have a counted MAC ratio off the formula's by "
                           "more than the tolerance {} (worst: {:.2f} counted, {:.2f} by the formula); "
                           "`check: macs` constrains the counted one\n",
                           s.name, off, trials.size(), s.compound.tolerance, worst_macs, worst_formula);
}

// A first rung inside the learning-rate warm-up ranks trials before they have trained at their
// rate: measured on the compound search (results/compound-asha-vs-grid), a candidate scored 18%
// at that rung in one run and 51-55% in two others, and was stopped there.
void warn_rung_in_warmup(const search::Stage& s, const std::vector<PlannedTrial>& trials, std::ostream& out) {
    if (!s.early_stop) return;
    int warmup = 0;
    for (const auto& p : trials) warmup = std::max(warmup, p.config.warmup_epochs);
    if (warmup >= s.early_stop->min_epochs)
        out << fmt::format("warning: stage '{}': the first rung (after {} epoch(s)) falls within the learning-rate "
                           "warm-up ({} epoch(s)): trials would be ranked before they train at their rate; "
                           "set min_epochs above warmup_epochs\n",
                           s.name, s.early_stop->min_epochs, warmup);
}

// A retrain stage's recipe, checked on the nets at both ends of its search's space.
void print_retrain_plan(const search::Experiment& e, const search::Stage& s, DataCache& data, std::ostream& out) {
    const search::EarlierResults stand_ins = stand_in_results(e, s);
    const auto planned = plan_stage(e, s, data, &stand_ins);
    out << fmt::format("retrains the top {} {} with this stage's settings, {} seed(s) each\n"
                       "checked on the first and last configurations of the search's space:",
                       s.retrain.top, s.retrain.each_search ? "of each search" : "of the searches pooled", s.seeds.size());
    const std::size_t points = planned.size() / s.seeds.size();  // trials go seed by seed, point by point
    for (std::size_t i = 0; i < points; ++i)
        out << fmt::format("{} {} MACs, {} params, {} epochs", i == 0 ? "" : ";", with_thousands(planned[i].macs),
                           with_thousands(planned[i].params), planned[i].config.epochs);
    out << '\n';
}

// A planned trial as the report will see it once finished (its settings, not its metrics).
TrialRecord as_finished_record(const search::Trial& t) {
    TrialRecord r;
    r.id = t.id;
    r.stage = t.stage;
    r.status = "done";
    r.settings = t.settings;
    r.labels = t.labels;
    r.swept = t.swept;
    return r;
}

// A report table whose cells would pool more than seeds (a swept setting it does not show):
// say so before the run, for the stages expanded now. Pooling may be meant (a main effect
// over another factor), so it is a note, and summary.md repeats it under the table.
void note_mixed_table_cells(const search::Experiment& e, const std::vector<TrialRecord>& planned, std::ostream& out) {
    for (const auto& rt : e.tables) {
        const std::string note = mixed_cells_note(planned, rt);
        if (!note.empty())
            out << fmt::format("note: report table '{}': {}\n",
                               rt.title.empty() ? rt.metric + " by " + rt.rows : rt.title, note);
    }
}

// The share of the trial-epochs early stopping trains: successive halving run on the planned
// trials with distinct made-up results (the real share depends on the results only through
// ties and failures).
double early_stop_fraction(const search::EarlyStop& es, const std::vector<PlannedTrial>& trials) {
    std::vector<std::string> ids;
    for (const auto& p : trials) ids.push_back(p.trial.id);
    const int max_epochs = es.max_epochs > 0 ? es.max_epochs : trials.front().config.epochs;
    Brackets sh(plan_brackets(es.method, ids, es.min_epochs, es.reduction, max_epochs), es.reduction, true, true);
    for (int n = 0; const auto job = sh.next(); ++n) sh.reached(job->trial, job->rung, double(n % 7));
    return double(sh.spent_epochs()) / double(std::max(1L, sh.full_budget()));
}

// A trial's training time from 3 measured steps of its net (measured once per net, batch and
// precision), evaluation counted as training.
double trial_seconds(const PlannedTrial& p, std::map<std::string, double>& speed, int cores) {
    const search::TrainConfig& c = p.config;
    std::string positions;  // one net file is many nets
    for (const auto& [k, v] : c.positions) positions += k + "=" + v + ";";
    const std::string sig =
        fmt::format("{}|{}|{}|{}", nets::to_string(c.knobs) + c.net + c.spec, c.batch, c.precision, positions);
    if (!speed.count(sig)) speed[sig] = measure_img_per_s(build_graph(c, *p.train), c.batch, cores, parse_precision(c.precision));
    const auto& d = *p.train;
    const std::size_t val_n = p.sets->has_val() ? p.sets->val.size() : std::size_t(c.val_size);
    const std::size_t train_n = data::training_count(d.size(), p.sets->has_val() ? 0 : c.val_size,
                                                     std::size_t(c.train_limit), c.train_fraction);
    const double per_epoch = double(train_n + val_n + std::size_t(c.train_eval_size)) / speed[sig];
    return per_epoch * c.epochs;
}

// A search stage's plan: its space, evaluator, strategy and the share its constraints leave.
void print_search_plan(const search::Stage& s, const SearchPlan& sp, std::ostream& out) {
    const search::SearchSpec& x = s.search;
    std::vector<std::string> dims;
    for (const auto& [name, d] : x.space)
        dims.push_back(d.kind == "choice" ? fmt::format("{} ({} choices)", name, d.choices.size())
                       : d.kind == "int"  ? fmt::format("{} (int {}..{} step {})", name, d.lo, d.hi, d.step)
                                          : fmt::format("{} ({} {}..{})", name, d.kind, d.lo, d.hi));
    out << fmt::format("search: {} x {} independent search(es), budget {} each\n", x.strategy.name, x.repeats, x.budget);
    out << fmt::format("space: {}; {}\n", fmt::join(dims, ", "),
                       std::isinf(sp.space_size) ? std::string("infinite (real ranges)")
                                                 : fmt::format("{} configurations", with_thousands(std::int64_t(sp.space_size))));
    std::vector<std::string> objectives;
    if (x.reward)
        objectives.push_back(fmt::format("reward {} x ({}/{})^{} max", x.reward->metric, x.reward->cost, x.reward->target,
                                         x.reward->hard ? std::string("(0|-1)") : fmt::format("{}", x.reward->w)));
    else
        for (const auto& o : x.objectives) objectives.push_back(o.metric + (o.minimize ? " min" : " max"));
    out << fmt::format("objectives: {}\n", fmt::join(objectives, ", "));
    if (!x.table.empty())
        out << fmt::format("evaluator: table {} ({} configurations, {} rows)\n", x.table, with_thousands(std::int64_t(sp.table_configurations)),
                           with_thousands(std::int64_t(sp.table_rows)));
    else
        out << "evaluator: training\n";
    if (!x.constraints.empty()) {
        std::vector<std::string> c;
        std::string timed;  // a constraint on what is measured when proposed
        for (const auto& [m, bound] : x.constraints) {
            const bool whole = bound == std::floor(bound) && std::abs(bound) < 9e15;
            c.push_back(fmt::format("{} <= {}", m, whole ? with_thousands(std::int64_t(bound)) : fmt::format("{:g}", bound)));
            if (search::timed_on_this_machine(m)) timed = m;
        }
        out << fmt::format("constraints: {}: {:.1f}% of the {} {} feasible{}\n", fmt::join(c, ", "),
                           100.0 * double(sp.feasible) / double(std::max<std::size_t>(1, sp.drawn)), sp.drawn,
                           sp.exact_share ? "configurations" : "draws",
                           timed.empty() ? "" : fmt::format(" ({} is timed when a configuration is proposed; check "
                                                            "counts it as met)", timed));
    }
}

void run_check(const std::string& path, bool estimate) {
    const search::Experiment e = search::load_experiment(path);
    std::cout << fmt::format("{}: experiment '{}', {} stage(s)\n", path, e.name, e.stages.size());
    const int cores = available_cores();
    const double load_before = load_average();  // before our own measuring adds to it
    DataCache datasets;
    std::map<std::string, double> speed;  // net signature -> img/s
    double total_s = 0;
    std::size_t total_trials = 0;
    std::vector<TrialRecord> planned_records;  // as the report will see them, for its tables
    for (const auto& s : e.stages) {
        const std::size_t n = search::planned_count(e, s);
        total_trials += n;
        std::cout << fmt::format("\nstage '{}': {} trial(s){}\n", s.name, n,
                                 search::needs_results(s)
                                     ? fmt::format(" (expanded when stage '{}' is done)", s.depends_on()[0])
                                     : "");
        if (s.kind == search::Stage::Kind::retrain && s.init_from.empty()) {
            print_retrain_plan(e, s, datasets, std::cout);
            continue;
        }
        if (search::needs_results(s)) continue;
        if (s.kind == search::Stage::Kind::search) {
            const SearchPlan sp = plan_search_stage(e, s, datasets);
            print_search_plan(s, sp, std::cout);
            warn_rung_in_warmup(s, sp.samples, std::cout);
            if (estimate && !sp.samples.empty()) {  // every proposal costs about what the drawn ones do
                double mean_s = 0;
                for (const auto& p : sp.samples) mean_s += trial_seconds(p, speed, cores) / double(sp.samples.size());
                const double secs = mean_s * double(n);
                std::cout << fmt::format("about {} of compute ({} per proposal, from {} drawn)\n", duration(secs),
                                         duration(mean_s), sp.samples.size());
                total_s += secs;
            }
            continue;
        }
        Table t;
        t.add_column("trial");
        t.add_column("settings");
        for (const char* c : {"params", "macs"}) t.add_column(c, true);
        if (estimate) t.add_column("est_time", true);
        const auto planned = plan_stage(e, s, datasets);
        for (const auto& p : planned) planned_records.push_back(as_finished_record(p.trial));
        double stage_s = 0;
        for (const auto& p : planned) {
            const search::Trial& trial = p.trial;
            const std::string swept = trial.swept.empty() && trial.labels.empty() ? "" : describe(trial);
            std::vector<std::string> row = {trial.id, swept, with_thousands(p.params), with_thousands(p.macs)};
            if (estimate) {
                const double secs = trial_seconds(p, speed, cores);
                total_s += secs;
                stage_s += secs;
                row.push_back(duration(secs));
            }
            t.add_row(std::move(row));
        }
        std::cout << render(t, Format::table);
        warn_ratio_disagreement(s, planned, std::cout);
        warn_rung_in_warmup(s, planned, std::cout);
        if (s.early_stop && !planned.empty()) {
            const double fraction = early_stop_fraction(*s.early_stop, planned);
            std::cout << fmt::format("early stopping ({}, keep 1/{} per rung): about {:.0f}% of the trial-epochs "
                                     "of training every trial fully{}\n",
                                     s.early_stop->method, s.early_stop->reduction, 100 * fraction,
                                     estimate ? fmt::format(": about {} instead of {}", duration(stage_s * fraction),
                                                            duration(stage_s))
                                              : "");
            total_s -= stage_s * (1 - fraction);
        }
    }
    note_mixed_table_cells(e, planned_records, std::cout);
    std::cout << fmt::format("\n{} trial(s) in all", total_trials);
    if (estimate)
        std::cout << fmt::format("; about {} of compute for the expanded ones on {} cores", duration(total_s), cores);
    std::cout << "\n(estimates from 3 measured training steps per net; evaluation counted as training)\n";
    if (const std::string note = busy_cores_note(load_before, cores); estimate && !note.empty())
        std::cout << "note: " << note << "\n";
}

}  // namespace

void add_experiment_commands(CLI::App& app) {
    {
        auto path = std::make_shared<std::string>();
        auto estimate = std::make_shared<bool>(true);
        auto* cmd = app.add_subcommand("check", "Validate an experiment and print its plan");
        cmd->add_option("experiment", *path, "experiment YAML")->required()->check(CLI::ExistingFile);
        cmd->add_flag("!--no-estimate", *estimate, "skip the measured time estimate");
        cmd->callback([path, estimate] { run_check(*path, *estimate); });
    }
    {
        struct Args {
            std::string path, out, shard, stage;
            int jobs = 0, threads = 0;
            bool force = false, no_report = false, trial_failures_ok = false;
        };
        auto a = std::make_shared<Args>();
        auto* cmd = app.add_subcommand("run", "Run an experiment (resumes from its journal)");
        cmd->add_option("experiment", a->path, "experiment YAML")->required()->check(CLI::ExistingFile);
        cmd->add_option("--out", a->out, "results folder (default results/NAME)");
        cmd->add_option("--jobs", a->jobs, "trials at once (default: from the cores and trial sizes)");
        cmd->add_option("--threads-per-trial", a->threads, "threads per trial");
        cmd->add_option("--shard", a->shard, "i/N: run only shard i of N (default from SLURM_ARRAY_TASK_ID/COUNT)");
        cmd->add_flag("--force", a->force, "re-run finished trials");
        cmd->add_flag("--no-report", a->no_report, "do not write the reports at the end");
        cmd->add_option("--stage", a->stage, "run only this stage");
        cmd->add_flag("--trial-failures-ok", a->trial_failures_ok,
                      "exit 0 when trials failed but the run itself did not (SLURM array tasks)");
        cmd->callback([a] {
            // Before anything slow (loading, validating, generating data): SLURM's warning signal
            // must never find the default action, which kills the task without requeueing it.
            std::signal(SIGINT, on_stop);
            std::signal(SIGTERM, on_stop);
            std::signal(SIGUSR1, on_warning);
            const search::Experiment e = search::load_experiment(a->path);
            RunOptions o;
            o.out = a->out.empty() ? (fs::path("results") / e.name).string() : a->out;
            o.jobs = a->jobs;
            o.threads_per_trial = a->threads;
            o.force = a->force;
            std::string shard = a->shard;
            if (shard.empty()) {
                const char* id = std::getenv("SLURM_ARRAY_TASK_ID");
                const char* count = std::getenv("SLURM_ARRAY_TASK_COUNT");
                if (id && count) shard = fmt::format("{}/{}", id, count);
            }
            if (!shard.empty()) {
                const auto slash = shard.find('/');
                try {
                    o.shard_index = std::stoi(shard.substr(0, slash));
                    o.shard_count = std::stoi(shard.substr(slash + 1));
                } catch (...) {
                    throw InputError(fmt::format("--shard '{}': expected i/N", shard));
                }
                if (slash == std::string::npos || o.shard_count < 1 || o.shard_index < 0 ||
                    o.shard_index >= o.shard_count)
                    throw InputError(fmt::format("--shard '{}': expected i/N with 0 <= i < N", shard));
            }
            if (!a->stage.empty()) {
                bool found = false;
                for (const auto& st : e.stages) found = found || st.name == a->stage;
                if (!found) throw InputError(fmt::format("--stage {}: no such stage in {}", a->stage, a->path));
                o.only_stage = a->stage;
            }
            const ExperimentPlan plan = validate_experiment(e);
            prepare_output_folder(o.out, "--out", kResultsFolderMarks);
            keep_experiment_copy(a->path, o.out);
            o.stop = &g_stop;
            const RunSummary s = run_experiment(e, plan, o);
            std::cout << fmt::format("{}: {} done, {} failed, {} skipped (finished before), {} interrupted; "
                                     "{} trial(s) at once x {} thread(s)\n",
                                     e.name, s.done, s.failed, s.skipped, s.interrupted, s.jobs, s.threads_per_trial);
            if (s.infeasible > 0)
                std::cout << fmt::format("search: {} proposal(s) refused by a constraint (never trained)\n", s.infeasible);
            if (s.full_epochs > 0)
                std::cout << fmt::format("early stopping: {} trial(s) stopped; {} trial-epochs of {} without it ({:.0f}%)\n",
                                         s.stopped, s.spent_epochs, s.full_epochs,
                                         100.0 * double(s.spent_epochs) / double(s.full_epochs));
            if (!a->no_report && o.shard_count == 1)
                for (const auto& f : write_reports(o.out, &e)) std::cout << "wrote " << f << '\n';
            if (g_requeue.load()) {
                if (const auto job = slurm_self()) {
                    std::cout << "warning signal: checkpointed; requeueing job " << *job << std::endl;
                    if (std::system(fmt::format("scontrol requeue {}", *job).c_str()) == 0) return;
                }
            }
            if (s.interrupted || g_stop.load())
                throw RunError("interrupted: running trials were checkpointed; run the same command to resume");
            if (s.failed && !a->trial_failures_ok)
                throw RunError(fmt::format("{} trial(s) failed (see results.csv)", s.failed));
        });
    }
    {
        auto dir = std::make_shared<std::string>();
        auto exp = std::make_shared<std::string>();
        auto repair = std::make_shared<bool>(false);
        auto* cmd = app.add_subcommand("report", "Rebuild results.csv, curves.csv, summary.md and plots from the journal");
        cmd->add_option("results", *dir, "results folder")->required()->check(CLI::ExistingDirectory);
        cmd->add_option("--experiment", *exp, "the experiment YAML (for its report section)");
        cmd->add_flag("--repair", *repair,
                      "first set aside journal lines that do not parse (into journal/*.jsonl.corrupt)");
        cmd->callback([dir, exp, repair] {
            if (*repair) {
                const std::size_t n = repair_journals(*dir);
                std::cout << fmt::format("{}: {} corrupt journal line(s) set aside\n", *dir, n);
            }
            std::unique_ptr<search::Experiment> e;
            if (!exp->empty()) e = std::make_unique<search::Experiment>(search::load_experiment(*exp));
            else if (fs::exists(fs::path(*dir) / "experiment.yaml"))
                e = std::make_unique<search::Experiment>(
                    search::load_experiment((fs::path(*dir) / "experiment.yaml").string()));
            if (!fs::exists(fs::path(*dir) / "journal"))
                throw InputError(fmt::format("{}: no journal/ folder (not a results folder?)", *dir));
            for (const auto& f : write_reports(*dir, e.get())) std::cout << "wrote " << f << '\n';
        });
    }
}

}  // namespace deeper::runners::cli
