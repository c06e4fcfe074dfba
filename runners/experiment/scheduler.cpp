#include "runners/experiment/scheduler.hpp"

#include <fmt/format.h>
#include <omp.h>
#include <tbb/flow_graph.h>
#include <tbb/parallel_for_each.h>
#include <tbb/task_arena.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "nets/error.hpp"
#include "nets/zoo.hpp"
#include "runners/cpu_budget.hpp"
#include "runners/experiment/journal.hpp"
#include "runners/folder_lock.hpp"
#include "runners/table.hpp"
#include "runners/train/trainer.hpp"
#include "runners/version.hpp"
#include "search/expand.hpp"

namespace deeper::runners {

namespace fs = std::filesystem;
using search::Trial;

std::vector<int> shard_split(const std::vector<std::string>& trial_ids, int shard_count) {
    std::vector<std::size_t> by_id(trial_ids.size());
    std::iota(by_id.begin(), by_id.end(), std::size_t(0));
    std::sort(by_id.begin(), by_id.end(), [&](std::size_t a, std::size_t b) { return trial_ids[a] < trial_ids[b]; });
    std::vector<int> shard(trial_ids.size());
    for (std::size_t rank = 0; rank < by_id.size(); ++rank)
        shard[by_id[rank]] = int(rank % std::size_t(std::max(1, shard_count)));
    return shard;
}

namespace {

// The value of a metric for a finished record (final epoch, or the test result).
std::optional<double> metric_of(const TrialRecord& r, const std::string& metric) {
    if (auto it = r.result.find(metric); it != r.result.end()) return it->second;
    if (r.epochs.empty()) return std::nullopt;
    const auto& last = r.epochs.back();
    if (metric == "train_eval_error") {
        auto it = last.find("train_eval_top1");
        if (it != last.end()) return 1 - it->second;
    }
    auto it = last.find(metric);
    if (it == last.end()) return std::nullopt;
    return it->second;
}

bool lower_is_better(const std::string& metric) {
    return metric.find("loss") != std::string::npos || metric.find("error") != std::string::npos;
}

// Default K x T: small trials pack one per core; big ones get every core.
std::pair<int, int> default_packing(const std::vector<Trial>& trials, int cores) {
    std::int64_t biggest = 0;
    for (const auto& t : trials) {
        try {
            const auto c = t.config();
            nets::NetOptions o = c.knobs;
            if (!o.classes) o.classes = 10;
            if (!o.in_channels) o.in_channels = 1;
            if (!c.net.empty()) biggest = std::max(biggest, nets::build_net(c.net, o).total_macs() * c.batch);
        } catch (...) {
        }
    }
    // Below ~2 GMAC per step, a step is too short to split well over threads (oneDNN's
    // per-primitive barriers dominate): run the trials side by side instead.
    if (biggest < 2'000'000'000LL) return {cores, 1};
    return {1, cores};
}

struct Live {
    std::mutex m;
    std::map<std::string, Progress> running;  // trial id -> progress
    int done = 0, failed = 0, total = 0;
};

class Reporter {
public:
    Reporter(Live& live, bool enabled) : live_(live) {
        if (!enabled) return;
        const char* term = std::getenv("TERM");
        smart_ = isatty(STDOUT_FILENO) && term && std::string(term) != "dumb";
        thread_ = std::thread([this] { loop(); });
    }
    ~Reporter() {
        {
            std::lock_guard l(m_);
            quit_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
        if (smart_) std::cout << "\r\x1b[K" << std::flush;
    }

private:
    void loop() {
        std::unique_lock l(m_);
        while (!quit_) {
            cv_.wait_for(l, std::chrono::seconds(smart_ ? 1 : 10));
            if (quit_) break;
            std::lock_guard g(live_.m);
            std::string s = fmt::format("sweep: {} done, {} running, {} failed, {} pending", live_.done,
                                        live_.running.size(), live_.failed,
                                        live_.total - live_.done - live_.failed - int(live_.running.size()));
            for (const auto& [id, p] : live_.running)
                s += fmt::format("{}{} epoch {}/{} {:.0f} img/s loss {:.4f} ETA {:.0f}s",
                                 smart_ ? "\n  " : " | ", id, p.epoch, p.epochs, p.img_per_s, p.loss, p.eta_s);
            if (smart_) {  // redraw the block in place
                std::cout << "\x1b[J" << s << "\x1b[" << live_.running.size() << "A\r" << std::flush;
            } else {
                std::cout << s << std::endl;
            }
        }
    }
    Live& live_;
    bool smart_ = false, quit_ = false;
    std::mutex m_;
    std::condition_variable cv_;
    std::thread thread_;
};

}  // namespace

RunSummary run_experiment(const search::Experiment& e, const RunOptions& o) {
    const std::string out = o.out.empty() ? (fs::path("results") / e.name).string() : o.out;
    fs::create_directories(fs::path(out) / "trials");
    const std::string shard = o.shard_count > 1 ? fmt::format("shard-{}-of-{}", o.shard_index, o.shard_count) : "local";
    fs::create_directories(fs::path(out) / "journal");
    const FolderLock lock((fs::path(out) / "journal" / (shard + ".lock")).string(),
                          fmt::format("results folder {} (shard '{}')", out, shard));
    Journal journal(out, shard);

    std::mutex records_m;
    std::vector<TrialRecord> records = read_journals(out);
    auto find_record = [&](const std::string& id) -> const TrialRecord* {
        for (const auto& r : records)
            if (r.id == id) return &r;
        return nullptr;
    };
    search::BestLookup best = [&](const std::string& stage, const std::string& metric) {
        std::lock_guard l(records_m);
        std::optional<search::BestTrial> b;
        double bv = 0;
        for (const auto& r : records) {
            if (r.stage != stage || r.status != "done") continue;
            auto v = metric_of(r, metric);
            if (!v) continue;
            const bool better = !b || (lower_is_better(metric) ? *v < bv : *v > bv);
            if (better) {
                b = search::BestTrial{r.id, r.settings};
                bv = *v;
            }
        }
        return b;
    };

    // Packing, from the trials that can be expanded now.
    const int cores = available_cores();
    std::vector<Trial> known;
    for (const auto& s : e.stages)
        if (!search::needs_results(s) && (o.only_stage.empty() || s.name == o.only_stage))
            for (auto& t : search::expand(e, s)) known.push_back(std::move(t));
    auto [K, T] = default_packing(known, cores);
    if (o.jobs > 0) K = o.jobs;
    if (o.threads_per_trial > 0) T = o.threads_per_trial;
    if (o.jobs > 0 && o.threads_per_trial <= 0) T = std::max(1, cores / K);
    if (o.threads_per_trial > 0 && o.jobs <= 0) K = std::max(1, cores / T);

    RunSummary sum;
    sum.jobs = K;
    sum.threads_per_trial = T;
    Live live;
    std::mutex sum_m;

    auto run_trial = [&](const Trial& t) {
        if (o.stop && o.stop->load()) return;
        const fs::path dir = fs::path(out) / "trials" / t.id;
        search::TrainConfig cfg;
        try {
            cfg = t.config();
        } catch (const std::exception& ex) {
            journal.append(fmt::format(R"({{"event":"failed","trial":"{}","stage":"{}","error":{}}})", t.id,
                                       t.stage, json_string(ex.what())));
            std::lock_guard l(sum_m);
            ++sum.failed;
            return;
        }
        if (cfg.init.rfind("trial:", 0) == 0)
            cfg.init = (fs::path(out) / "trials" / cfg.init.substr(6) / "checkpoint.safetensors").string();
        cfg.threads = T;
        cfg.out = dir.string();
        omp_set_num_threads(T);  // this thread's OpenMP team; set before any primitive exists
        const bool resume = fs::exists(dir / "checkpoint.safetensors");
        int resume_epoch = 0;
        if (resume) {
            std::ifstream m(dir / "metrics.csv");
            std::string line;
            while (std::getline(m, line)) ++resume_epoch;
            resume_epoch = std::max(0, resume_epoch - 1);
        }
        std::string swept = "[";
        for (const auto& k : t.swept) swept += (swept.size() > 1 ? "," : "") + json_string(k);
        swept += "]";
        journal.append(fmt::format(
            R"({{"event":"start","trial":"{}","stage":"{}","seed":{},"settings":{},"labels":{},"swept":{},"threads":{},"jobs":{},"resume_epoch":{}}})",
            t.id, t.stage, t.seed, json_object(t.settings), json_object(t.labels), swept, T, K, resume_epoch));
        TrainHooks hooks;
        hooks.stop = o.stop;
        hooks.on_step = [&](const Progress& p) {
            std::lock_guard l(live.m);
            live.running[t.id] = p;
        };
        hooks.on_epoch = [&](const EpochMetrics& m) {
            journal.append(fmt::format(
                R"({{"event":"epoch","trial":"{}","metrics":{{"epoch":{},"lr":{},"train_loss":{},"train_top1":{},"val_loss":{},"val_top1":{},"val_top5":{},"train_eval_loss":{},"train_eval_top1":{},"epoch_s":{},"img_per_s":{}}}}})",
                t.id, m.epoch, json_number(m.lr), json_number(m.train_loss), json_number(m.train_top1),
                json_number(m.val_loss), json_number(m.val_top1), json_number(m.val_top5),
                json_number(m.train_eval_loss), json_number(m.train_eval_top1), json_number(m.epoch_s),
                json_number(m.img_per_s)));
        };
        {
            std::lock_guard l(live.m);
            live.running[t.id] = Progress{};
        }
        std::string status;
        try {
            const TrainResult r = train(cfg, resume, hooks);
            if (r.interrupted) {
                journal.append(fmt::format(R"({{"event":"interrupted","trial":"{}"}})", t.id));
                status = "interrupted";
            } else {
                double ips = 0;
                for (const auto& m : r.epochs) ips += m.img_per_s;
                ips /= std::max<std::size_t>(1, r.epochs.size());
                journal.append(fmt::format(
                    R"({{"event":"done","trial":"{}","result":{{"test_loss":{},"test_top1":{},"test_top5":{},"params":{},"macs":{},"wall_s":{},"train_img_per_s":{},"threads":{},"trials_in_parallel":{},"precision":{},"isa":{},"deeper_version":{}}}}})",
                    t.id, json_number(*r.test_loss), json_number(*r.test_top1), json_number(*r.test_top5),
                    r.params, r.macs, json_number(r.wall_s), json_number(ips), r.threads, K,
                    json_string(r.precision), json_string(r.isa), json_string(kVersion)));
                status = "done";
            }
        } catch (const std::exception& ex) {
            journal.append(fmt::format(R"({{"event":"failed","trial":"{}","error":{}}})", t.id,
                                       json_string(ex.what())));
            status = "failed";
        }
        {
            std::lock_guard l(live.m);
            live.running.erase(t.id);
            live.done += status == "done";
            live.failed += status == "failed";
        }
        std::lock_guard l(sum_m);
        sum.done += status == "done";
        sum.failed += status == "failed";
        sum.interrupted += status == "interrupted";
    };

    auto run_stage = [&](const search::Stage& s) {
        if (o.stop && o.stop->load()) return;
        if (!o.only_stage.empty() && s.name != o.only_stage) return;
        std::vector<Trial> trials;
        try {
            trials = search::needs_results(s) ? search::expand(e, s, &best) : search::expand(e, s);
        } catch (const RunError& ex) {  // a stage whose source stage produced nothing
            journal.append(fmt::format(R"({{"event":"stage_skipped","stage":"{}","error":{}}})", s.name,
                                       json_string(ex.what())));
            std::cerr << "deeper: " << ex.what() << '\n';
            std::lock_guard l(sum_m);
            ++sum.failed;
            return;
        }
        std::vector<std::string> ids;
        for (const auto& t : trials) ids.push_back(t.id);
        const std::vector<int> shard = shard_split(ids, o.shard_count);
        std::vector<Trial> todo;
        for (std::size_t i = 0; i < trials.size(); ++i) {
            if (shard[i] != o.shard_index) continue;
            Trial& t = trials[i];
            const TrialRecord* r = nullptr;
            {
                std::lock_guard l(records_m);
                r = find_record(t.id);
            }
            if (r && r->status == "done" && !o.force) {  // failed trials are tried again
                std::lock_guard l(sum_m);
                ++sum.skipped;
                continue;
            }
            if (o.force) fs::remove_all(fs::path(out) / "trials" / t.id);
            todo.push_back(std::move(t));
        }
        {
            std::lock_guard l(live.m);
            live.total += int(todo.size());
        }
        tbb::parallel_for_each(todo.begin(), todo.end(), run_trial);
        // Later stages pick their best from what this one journaled.
        std::lock_guard l(records_m);
        records = read_journals(out);
    };

    {
        Reporter reporter(live, o.progress);
        tbb::task_arena arena(K);
        arena.execute([&] {
            tbb::flow::graph g;
            tbb::flow::broadcast_node<tbb::flow::continue_msg> start(g);
            std::map<std::string, std::unique_ptr<tbb::flow::continue_node<tbb::flow::continue_msg>>> nodes;
            for (const auto& s : e.stages) {
                auto node = std::make_unique<tbb::flow::continue_node<tbb::flow::continue_msg>>(
                    g, [&, stage = &s](const tbb::flow::continue_msg&) { run_stage(*stage); });
                const auto deps = s.depends_on();
                if (deps.empty()) tbb::flow::make_edge(start, *node);
                for (const auto& d : deps) tbb::flow::make_edge(*nodes.at(d), *node);
                nodes[s.name] = std::move(node);
            }
            start.try_put(tbb::flow::continue_msg());
            g.wait_for_all();
        });
    }
    return sum;
}

}  // namespace deeper::runners
