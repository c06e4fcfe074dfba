#pragma once
// The tuner's measurements, kept on disk per machine so that the second trial of a sweep
// compiles as fast as the first would without tuning. One JSON Lines file per machine key
// (CPU model, ISA, oneDNN version, engine kernels' revision) under $DEEPER_TUNE_CACHE, else
// $XDG_CACHE_HOME/deeper/tune, else ~/.cache/deeper/tune: a home folder shared by cluster
// nodes of different CPUs keeps their measurements apart. The first line names the machine;
// every other line is one measurement {"key": ..., "ms": ...}. A tuner holds the file's lock
// while it measures, so trials and SLURM shards on one node share the file and measure one at
// a time. A file of another machine, or a line that is not a measurement, is ignored with a
// note, never trusted; a cache that cannot be written only costs the next compile its
// measurements.
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace deeper::runners {

// What makes measurements comparable: "AMD EPYC 9R14 (family 25 model 17 stepping 1), isa
// avx512_core_bf16, oneDNN 2.6.3, engine kernels r2" (the revision of the engine's own kernels).
std::string machine_key();

class TuneCache {
public:
    using Note = std::function<void(const std::string&)>;
    // Reads the machine's file (when present); `folder` empty: the default folder above.
    // Holds the machine's lock from construction to destruction: one tuner measures at a
    // time, and the next one finds its times (so trials of one config get one plan).
    explicit TuneCache(std::string folder = "", Note note = {});
    ~TuneCache();
    TuneCache(const TuneCache&) = delete;
    TuneCache& operator=(const TuneCache&) = delete;

    std::optional<double> find(const std::string& key) const;
    // Keeps the measurement, and appends it to the file (a note, once, when it cannot).
    void record(const std::string& key, double ms);
    const std::string& path() const { return path_; }

private:
    void load();
    std::string path_, machine_;
    Note note_;
    bool write_failed_ = false;
    int lock_fd_ = -1;
    std::map<std::string, double> ms_;
};

// The folder the cache lives in, from the environment.
std::string default_tune_cache_folder();

}  // namespace deeper::runners
