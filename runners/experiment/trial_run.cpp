#include "runners/experiment/trial_run.hpp"

#include <omp.h>

#include <cmath>
#include <filesystem>

#include "runners/experiment/timed_metrics.hpp"
#include "runners/version.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

json start_event(const search::Trial& t, const Packing& k, int resume_epoch) {
    return {{"event", "start"},       {"trial", t.id},         {"stage", t.stage},
            {"seed", t.seed},         {"settings", t.settings}, {"labels", t.labels},
            {"swept", t.swept},       {"threads", k.threads_per_trial}, {"jobs", k.jobs},
            {"resume_epoch", resume_epoch}};
}

json epoch_event(const search::Trial& t, const EpochMetrics& m) {
    json metrics = json::object();
    visit_epoch_metrics(m, [&](const char* name, double v) { metrics[name] = v; });
    metrics["epoch"] = m.epoch;  // a whole number in the file
    return {{"event", "epoch"}, {"trial", t.id}, {"metrics", metrics}};
}

// wall_s leaves out the stage's `measure` timing (only a net's first trial pays it; the others
// read the cache).
json done_event(const search::Trial& t, const TrainResult& r, const Packing& k, const TimedMetrics& timed) {
    double img_per_s = 0;
    for (const auto& m : r.epochs) img_per_s += m.img_per_s;
    img_per_s /= double(std::max<std::size_t>(1, r.epochs.size()));
    json result = {{"test_loss", *r.test_loss},    {"test_top1", *r.test_top1}, {"test_top5", *r.test_top5},
                   {"params", r.params},           {"macs", r.macs},           {"wall_s", r.wall_s - timed.seconds},
                   {"train_img_per_s", img_per_s}, {"threads", r.threads},     {"trials_in_parallel", k.jobs},
                   {"precision", r.precision},     {"isa", r.isa},             {"conv_plan", r.conv_plan},
                   {"deeper_version", kVersion}};
    for (const auto& [m, v] : timed.values) result[m] = v;
    return {{"event", "done"}, {"trial", t.id}, {"result", result}};
}

json failed_event(const search::Trial& t, const std::string& error) {
    return {{"event", "failed"}, {"trial", t.id}, {"stage", t.stage}, {"error", error}};
}

}  // namespace

TrialEnd run_trial(const search::Trial& t, Journal& journal, const TrialSetting& s) {
    const fs::path dir = fs::path(s.results_dir) / "trials" / t.id;
    search::TrainConfig cfg;
    try {
        cfg = t.config();
    } catch (const std::exception& ex) {
        journal.append(failed_event(t, ex.what()));
        return {};
    }
    if (cfg.init.rfind("trial:", 0) == 0)  // another stage's trial, by id
        cfg.init = (fs::path(s.results_dir) / "trials" / cfg.init.substr(6) / "checkpoint.safetensors").string();
    cfg.threads = s.packing.threads_per_trial;
    cfg.out = dir.string();
    omp_set_num_threads(cfg.threads);  // this thread's OpenMP team; set before any primitive exists
    try {
        const int resume_epoch = checkpoint_epoch(dir.string());
        journal.append(start_event(t, s.packing, resume_epoch));
        TrainHooks hooks;
        hooks.stop = s.stop;
        hooks.on_step = s.on_progress;
        hooks.on_epoch = [&](const EpochMetrics& m) { journal.append(epoch_event(t, m)); };
        hooks.pause_after_epochs = s.pause_after_epochs;
        TimedMetrics timed;  // the stage's `measure`, before training (a resumed trial reads the cache)
        if (!s.measure.empty())
            hooks.on_graph = [&](const nets::Graph& g) {
                timed = time_metrics(g, s.measure, cfg.threads, parse_precision(cfg.precision), cfg.batch);
            };
        const TrainResult r = train(cfg, fs::exists(dir / "checkpoint.safetensors"), hooks);
        TrialEnd end;
        if (!r.epochs.empty()) end.last = r.epochs.back();
        if (r.interrupted) {
            journal.append({{"event", "interrupted"}, {"trial", t.id}});
            end.outcome = TrialOutcome::interrupted;
        } else if (r.paused) {
            end.outcome = TrialOutcome::paused;  // the scheduler journals the rung
        } else {
            const json done = done_event(t, r, s.packing, timed);
            journal.append(done);
            end.outcome = TrialOutcome::done;
            if (end.last) visit_epoch_metrics(*end.last, [&](const char* name, double v) { end.metrics[name] = v; });
            double best = NAN;
            for (const auto& m : r.epochs) best = std::isnan(best) ? m.val_top1 : std::max(best, m.val_top1);
            end.metrics["best_val_top1"] = best;
            for (const auto& [k, v] : done["result"].items())
                if (v.is_number()) end.metrics[k] = v.get<double>();
        }
        return end;
    } catch (const std::exception& ex) {
        journal.append(failed_event(t, ex.what()));
        return {};
    }
}

}  // namespace deeper::runners
