#pragma once
// One pass over a loader's batches, in order: built on the caller's threads just before each step
// (threads = 0: nothing runs beside the compute, the right choice when a batch takes
// milliseconds, as in-memory sets do), or ahead of the caller by a oneTBB pipeline on `threads`
// threads of its own, at most `depth` batches ahead (memory: `depth` batches, never the dataset).
// Both give the same batches bit for bit (the loader's draws are per sample).
//
// Threads beside the compute take cores from it: the engine's OpenMP threads wait for their
// slowest member at every layer, so `threads` plus the engine's threads should not exceed the cores.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "runners/data/loader.hpp"

namespace deeper::runners::data {

struct PassOptions {
    std::uint64_t seed = 0;
    int epoch = 0;
    bool shuffle = false;
    int batch = 128;
    std::size_t first = 0, end = 0;  // batches [first, end) of the pass
    int threads = 0;                  // 0: inline on the caller's threads
    int depth = 4;                    // batches built ahead (threads > 0)
};

class BatchStream {
public:
    BatchStream(const Loader& loader, const PassOptions& o);
    ~BatchStream();
    BatchStream(const BatchStream&) = delete;
    BatchStream& operator=(const BatchStream&) = delete;

    // The next batch of the pass into images/labels; returns how many of its items are real.
    // Rethrows what building that batch threw (a corrupt file), in the batch's turn.
    int next(float* images, std::int32_t* labels);
    bool done() const { return next_ >= o_.end; }

private:
    struct Slot {
        std::vector<float> images;
        std::vector<std::int32_t> labels;
        std::size_t batch = 0;
        int real = 0;
        bool ready = false, free = true;
        std::exception_ptr error;
    };
    void produce();
    Slot* take_free_slot();

    const Loader& loader_;
    PassOptions o_;
    std::size_t next_;            // the batch next() returns
    std::size_t next_to_build_;   // the producer's next batch
    std::vector<Slot> slots_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool stopping_ = false;
    std::thread producer_;
};

}  // namespace deeper::runners::data
