// `deeper submit` (SLURM job arrays, one per stage, chained; a report job at the end) and
// `deeper status` (done / running / failed / pending per stage, from the journals).
#include <fmt/format.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "nets/error.hpp"
#include "runners/cli/commands.hpp"
#include "runners/experiment/journal.hpp"
#include "runners/atomic_file.hpp"
#include "runners/folder_lock.hpp"
#include "runners/output_folder.hpp"
#include "runners/table.hpp"
#include "search/expand.hpp"

namespace deeper::runners::cli {

namespace fs = std::filesystem;

namespace {

struct SubmitArgs {
    std::string path, out, partition, time, mem;
    int shards = 0, cpus = 2, parallelism = 0;
    std::vector<std::string> sbatch_args;
    bool dry_run = false;
};

std::string run_capture(const std::string& cmd, int& rc) {
    std::string out;
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    if (!p) throw RunError("cannot run: " + cmd);
    std::array<char, 4096> buf;
    while (std::fgets(buf.data(), buf.size(), p)) out += buf.data();
    const int status = pclose(p);
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    return out;
}

std::string quoted(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

void run_submit(const SubmitArgs& a) {
    const search::Experiment e = search::load_experiment(a.path);
    const std::string out = fs::absolute(a.out.empty() ? fs::path("results") / e.name : fs::path(a.out)).string();
    prepare_output_folder(out, "--out", kResultsFolderMarks);
    const fs::path slurm_dir = fs::path(out) / "slurm";
    fs::create_directories(slurm_dir / "logs");
    keep_experiment_copy(a.path, out);
    const fs::path exp_copy = fs::path(out) / "experiment.yaml";
    const std::string deeper = fs::canonical("/proc/self/exe").string();

    std::map<std::string, std::string> job_of;  // stage -> job id
    std::vector<std::string> all_jobs;
    auto header = [&](const std::string& name, const std::string& log) {
        std::string h = "#!/bin/bash\n";
        h += fmt::format("#SBATCH --job-name={}\n", name);
        h += fmt::format("#SBATCH --output={}\n", log);
        h += "#SBATCH --open-mode=append\n";
        if (!a.partition.empty()) h += fmt::format("#SBATCH --partition={}\n", a.partition);
        if (!a.time.empty()) h += fmt::format("#SBATCH --time={}\n", a.time);
        if (!a.mem.empty()) h += fmt::format("#SBATCH --mem={}\n", a.mem);
        for (const auto& x : a.sbatch_args) h += fmt::format("#SBATCH {}\n", x);
        return h;
    };
    auto submit = [&](const fs::path& script, const std::vector<std::string>& deps) {
        std::string cmd = "sbatch --parsable --kill-on-invalid-dep=yes";
        if (!deps.empty()) {
            cmd += " --dependency=afterok";
            for (const auto& d : deps) cmd += ":" + d;
        }
        cmd += " " + quoted(script.string());
        if (a.dry_run) {
            std::cout << "would run: " << cmd << '\n';
            return fmt::format("<{}>", script.stem().string());
        }
        int rc = 0;
        std::string id = run_capture(cmd, rc);
        if (rc != 0) throw RunError(fmt::format("sbatch failed for {}: {}", script.string(), id));
        id = id.substr(0, id.find_first_of(";\n"));
        return id;
    };
    for (std::size_t i = 0; i < e.stages.size(); ++i) {
        const auto& s = e.stages[i];
        const std::size_t trials = search::planned_count(e, s);
        // A training search's tasks are workers of its searches (one at a time: at most a
        // budget of them); a table's answers take no time, so one task gives them.
        const bool search = s.kind == search::Stage::Kind::search;
        const std::size_t most = !search ? trials : s.search.table.empty() ? std::size_t(s.search.budget) : 1;
        const int shards = int(std::max<std::size_t>(1, a.shards > 0 ? std::min<std::size_t>(a.shards, most) : most));
        std::string body = header(fmt::format("deeper-{}-{}", e.name, s.name),
                                  (slurm_dir / "logs" / fmt::format("{}_%A_%a.out", s.name)).string());
        body += fmt::format("#SBATCH --array=0-{}{}\n", shards - 1,
                            a.parallelism > 0 ? fmt::format("%{}", a.parallelism) : "");
        body += fmt::format("#SBATCH --cpus-per-task={}\n", a.cpus);
        body += "#SBATCH --requeue\n";
        body += "#SBATCH --signal=B:USR1@120\n\n";
        body += "# One array task per shard; a requeued task resumes from the journal and checkpoints.\n";
        body += fmt::format("exec {} run {} --out {} --stage {} --shard \"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\" "
                            "--threads-per-trial \"${{SLURM_CPUS_PER_TASK:-{}}}\" --jobs 1 --no-report --trial-failures-ok\n",
                            quoted(deeper), quoted(exp_copy.string()), quoted(out), quoted(s.name), a.cpus);
        const fs::path script = slurm_dir / fmt::format("stage{}-{}.sbatch", i + 1, s.name);
        write_atomically(script.string(), body);
        std::vector<std::string> deps;
        for (const auto& d : s.depends_on()) deps.push_back(job_of.at(d));
        const std::string id = submit(script, deps);
        job_of[s.name] = id;
        all_jobs.push_back(id);
        std::cout << fmt::format("stage {}: {} trial(s) in {} array task(s): job {}\n", s.name, trials, shards, id);
    }
    std::string report = header(fmt::format("deeper-{}-report", e.name), (slurm_dir / "logs" / "report_%j.out").string());
    report += "#SBATCH --cpus-per-task=1\n\n";
    report += fmt::format("exec {} report {} --experiment {}\n", quoted(deeper), quoted(out), quoted(exp_copy.string()));
    const fs::path script = slurm_dir / "report.sbatch";
    write_atomically(script.string(), report);
    const std::string id = submit(script, all_jobs);
    std::cout << fmt::format("report: job {}\nscripts in {}\n", id, slurm_dir.string());
}

void run_status(const std::string& dir) {
    const fs::path exp_path = fs::path(dir) / "experiment.yaml";
    if (!fs::exists(fs::path(dir) / "journal") && !fs::exists(exp_path))
        throw InputError(fmt::format("{}: not a results folder (no journal/ and no experiment.yaml)", dir));
    auto records = read_journals(dir);
    // A trial the journal calls running whose folder no live process holds died with its
    // process (kill -9, a node lost): it resumes on the next run.
    for (auto& r : records)
        if (r.status == "running" && !FolderLock::held((fs::path(dir) / "trials" / r.id / ".lock").string()))
            r.status = "interrupted";
    Table t;
    t.add_column("stage");
    // paused: at a rung of early stopping, waiting for the decision; stopped: not promoted
    const std::vector<std::string> states = {"done", "stopped", "running", "paused", "failed", "interrupted", "infeasible"};
    t.add_column("trials", true);
    for (const auto& c : states) t.add_column(c, true);
    t.add_column("pending", true);
    std::vector<std::string> stages;
    // A stage's trials by id where they can be planned now (not those chosen from an earlier
    // stage's results): a journal written by an earlier version of an edited experiment then
    // counts for what it ran, not for the trials that replaced it.
    std::map<std::string, std::optional<std::set<std::string>>> planned_ids;
    std::map<std::string, std::size_t> planned;
    std::map<std::string, std::string> legacy_ids;
    if (fs::exists(exp_path)) {
        const search::Experiment e = search::load_experiment(exp_path.string());
        for (const auto& s : e.stages) {
            stages.push_back(s.name);
            planned[s.name] = search::planned_count(e, s);
            if (search::needs_results(s) || s.kind == search::Stage::Kind::search) continue;  // known as they run
            auto& ids = planned_ids[s.name].emplace();
            for (const auto& trial : search::expand(e, s)) {
                ids.insert(trial.id);
                legacy_ids[trial.legacy_id] = trial.id;  // a folder from before configuration ids
            }
        }
    }
    for (const auto& r : records)
        if (std::find(stages.begin(), stages.end(), r.stage) == stages.end()) stages.push_back(r.stage);
    std::vector<std::string> notes;
    for (const auto& st : stages) {
        std::map<std::string, int> n;
        std::size_t known = 0, unplanned = 0;
        const auto& ids = planned_ids[st];
        for (const auto& r : records) {
            if (r.stage != st) continue;
            if (ids && !ids->count(r.id) && !legacy_ids.count(r.id)) {
                ++unplanned;
                continue;
            }
            ++n[r.status];
            ++known;
        }
        std::vector<std::string> row = {st, ""};
        for (const auto& state : states) row.push_back(std::to_string(n[state]));
        const std::size_t total = ids ? ids->size() : std::max(planned[st], known);
        row[1] = std::to_string(total);
        row.push_back(std::to_string(total - std::min(total, known)));
        t.add_row(std::move(row));
        if (unplanned > 0)
            notes.push_back(fmt::format("stage {}: {} trial(s) in the journal are no longer in {} (it was edited since); "
                                        "not counted above",
                                        st, unplanned, exp_path.string()));
    }
    std::cout << render(t, Format::table);
    for (const auto& note : notes) std::cout << note << '\n';
}

}  // namespace

void add_slurm_commands(CLI::App& app) {
    {
        auto a = std::make_shared<SubmitArgs>();
        auto* cmd = app.add_subcommand("submit", "Submit an experiment to SLURM as job arrays");
        cmd->add_option("experiment", a->path, "experiment YAML")->required()->check(CLI::ExistingFile);
        cmd->add_option("--out", a->out, "results folder on a shared filesystem (default results/NAME)");
        cmd->add_option("--shards", a->shards, "array tasks per stage (default: one per trial)");
        cmd->add_option("--partition", a->partition, "SLURM partition");
        cmd->add_option("--time", a->time, "time limit per array task");
        cmd->add_option("--cpus-per-task", a->cpus, "cores per array task")->capture_default_str();
        cmd->add_option("--mem", a->mem, "memory per array task");
        cmd->add_option("--array-parallelism", a->parallelism, "array tasks running at once (%A)");
        cmd->add_option("--sbatch-arg", a->sbatch_args, "extra #SBATCH line, repeatable");
        cmd->add_flag("--dry-run", a->dry_run, "write the scripts and print the commands, submit nothing");
        cmd->callback([a] { run_submit(*a); });
    }
    {
        auto dir = std::make_shared<std::string>();
        auto* cmd = app.add_subcommand("status", "Done / running / failed / pending trials per stage");
        cmd->add_option("results", *dir, "results folder")->required()->check(CLI::ExistingDirectory);
        cmd->callback([dir] { run_status(*dir); });
    }
}

}  // namespace deeper::runners::cli
