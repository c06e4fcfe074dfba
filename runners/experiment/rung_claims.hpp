#pragma once
// Early stopping and searches across processes: when several shards (SLURM array tasks) run one
// stage under early stopping, or one search, they share its state (successive halving, the
// search's history), rebuilt from everyone's journals on the shared filesystem, and each job (a
// trial to a rung; rung 0 without early stopping) is claimed before it runs. A claim is
// a file journal/claims/<stage>/<trial>.rung<k> naming the shard that runs it; every decision
// (read the journals and claims, pick a job, claim it) happens under one lock file, so no job
// runs twice. A shard that dies leaves its claims; its requeued task resumes them, and when
// its lock is free (no live process holds it) another shard adopts them.
#include <map>
#include <string>
#include <utility>

namespace deeper::runners {

class RungClaims {
public:
    RungClaims(std::string results_dir, const std::string& stage, std::string shard);

    // Holds the lock that serializes every claim decision of the results folder.
    class Guard {
    public:
        explicit Guard(const std::string& lock_path);
        ~Guard();
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;

    private:
        int fd_ = -1;
    };
    Guard lock() const;
    std::string lock_path() const;  // for a Guard held only sometimes (std::optional<Guard>::emplace)

    // (trial, rung) -> the shard that claimed the job.
    std::map<std::pair<std::string, int>, std::string> read() const;
    // Claims a job for this shard (a dead shard's claim is overwritten: adopted).
    void claim(const std::string& trial, int rung) const;
    // Whether the shard that made a claim is alive (a process holds its journal lock).
    bool alive(const std::string& shard) const;
    const std::string& shard() const { return shard_; }

private:
    std::string dir_, results_dir_, shard_;
};

}  // namespace deeper::runners
