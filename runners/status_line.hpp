#pragma once
// What a running command shows: durations, one trial's progress, and the live block of a sweep.
// Ninja's rule: on a smart terminal redraw in place; anywhere else (a pipe, a SLURM log) print
// whole lines now and then.
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "runners/train/trainer.hpp"

namespace deeper::runners {

bool smart_terminal();

// "2:03", "1:02:03".
std::string duration(double seconds);

// "epoch 3/10 [=====     ] 120/430 1234 img/s loss 0.4321 ETA 2:03"; before the first step
// (data loading, a deep net compiling) "preparing (data, net compile)".
std::string progress_text(const Progress& p, bool bar);

// The running trials of a sweep, shared between the trials (which update it) and the printer.
struct LiveTrials {
    std::mutex m;
    std::map<std::string, Progress> running;  // trial id -> progress
    int done = 0, failed = 0, total = 0;
};

// Prints a LiveTrials every second (smart terminal: a block redrawn in place) or every ten
// (one line), from its own thread, until destroyed.
class SweepStatus {
public:
    SweepStatus(LiveTrials& live, bool enabled);
    ~SweepStatus();
    SweepStatus(const SweepStatus&) = delete;
    SweepStatus& operator=(const SweepStatus&) = delete;

private:
    void loop();
    LiveTrials& live_;
    bool smart_ = false, quit_ = false;
    int drawn_lines_ = 0;  // terminal lines of the last block, wrapped ones included
    std::mutex m_;
    std::condition_variable cv_;
    std::thread thread_;
};

}  // namespace deeper::runners
