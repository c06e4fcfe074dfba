#pragma once
// The journal: append-only JSON lines under <results>/journal/<shard>.jsonl, one event per
// line, flushed to disk as it is written. It is the single source of truth of a sweep: resume
// replays it, and every report is a projection of it.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace deeper::runners {

class Journal {
public:
    Journal(const std::string& results_dir, const std::string& shard);
    ~Journal();
    Journal(const Journal&) = delete;
    Journal& operator=(const Journal&) = delete;
    // One event per call (thread-safe): a JSON object, its fields in the order given ("event"
    // and "trial" first, for whoever reads the file), then a "time" field. Non-finite numbers
    // are written as null. `durable`: on disk before it returns (fdatasync); events that are
    // cheap to redo (a table's answers) leave that to sync() at the end of their batch.
    void append(nlohmann::ordered_json event, bool durable = true);
    void sync();
    const std::string& path() const { return path_; }

private:
    std::string path_;
    std::FILE* f_ = nullptr;
    std::mutex m_;
};

struct TrialRecord {
    // running | done | failed | interrupted; with early stopping also paused (at a rung, waiting
    // for the decision) and stopped (not promoted); in a search also proposed (not started yet)
    // and infeasible (a constraint refused it before evaluation)
    std::string id, stage, status = "pending";
    std::map<std::string, std::string> settings, labels;
    std::vector<std::string> swept;
    std::vector<std::map<std::string, double>> epochs;
    std::map<std::string, double> result;  // test_top1, params, macs, wall_s, ...
    std::map<std::string, std::string> info;  // isa, deeper_version, error
    double seed = 0;
    std::vector<std::pair<int, double>> rungs;  // early stopping: (rung, metric) reached, in order
    int promoted_to = 0;                        // the highest rung a promotion sent it to
    double first_time = 0, last_time = 0;       // its first and last event (Unix seconds)
    double first_report = 0;  // its first result (a rung, its end or a refusal): a search's order
};

// Every trial seen in every journal file of a results folder, in first-seen order. A torn last
// line (a crash mid-write) is ignored; anything else malformed names the file and line.
std::vector<TrialRecord> read_journals(const std::string& results_dir);
// Moves every line that does not parse out of the journal files into <file>.corrupt beside
// them (rewriting each journal atomically); returns how many lines were set aside.
std::size_t repair_journals(const std::string& results_dir);

}  // namespace deeper::runners
