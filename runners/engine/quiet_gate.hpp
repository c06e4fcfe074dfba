#pragma once
// While one thread of the process times an inference, the process's other computations (the
// steps of trainings beside it, with `--jobs K`) wait at their next step, so that a measured
// latency is the net's own and not what a training on the neighbouring cores left of the memory
// bandwidth and caches. Only within one process: shards of a SLURM array are not paused.
#include <condition_variable>
#include <mutex>

namespace deeper::runners {

class QuietGate {
public:
    // Held around one unit of computation (a training step, an evaluation batch): waits while a
    // timing is running or waiting to run.
    class Work {
    public:
        explicit Work(QuietGate& g);
        ~Work();
        Work(const Work&) = delete;
        Work& operator=(const Work&) = delete;

    private:
        QuietGate& g_;
    };

    // Held around a timing: new work waits, and this waits until the work under way has finished.
    // Timings take turns. A thread that holds a Work must not ask for a Quiet (it would wait on itself).
    class Quiet {
    public:
        explicit Quiet(QuietGate& g);
        ~Quiet();
        Quiet(const Quiet&) = delete;
        Quiet& operator=(const Quiet&) = delete;

    private:
        QuietGate& g_;
    };

    int working() const;  // units of work under way, for tests

private:
    mutable std::mutex m_;
    std::condition_variable cv_;
    int working_ = 0;
    bool quiet_ = false;  // a timing holds or waits for the quiet
};

QuietGate& process_quiet_gate();

}  // namespace deeper::runners
