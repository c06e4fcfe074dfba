#include "runners/data/batch_stream.hpp"

#include <tbb/parallel_pipeline.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace deeper::runners::data {

BatchStream::BatchStream(const Loader& loader, const PassOptions& o)
    : loader_(loader), o_(o), next_(o.first), next_to_build_(o.first) {
    if (o_.threads <= 0 || done()) return;
    loader_.order(o_.seed, o_.epoch, o_.shuffle);  // computed once, before the builders share it
    const std::size_t per = std::size_t(loader_.transform().channels) * loader_.transform().resolution *
                            loader_.transform().resolution;
    slots_.resize(std::size_t(std::max(1, o_.depth)));
    for (Slot& s : slots_) {
        s.images.resize(per * std::size_t(o_.batch));
        s.labels.resize(std::size_t(o_.batch));
    }
    producer_ = std::thread([this] { produce(); });
}

BatchStream::~BatchStream() {
    if (!producer_.joinable()) return;
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    changed_.notify_all();
    producer_.join();
}

// A slot the consumer has handed back, or nullptr when the stream is stopping.
BatchStream::Slot* BatchStream::take_free_slot() {
    std::unique_lock lock(mutex_);
    Slot* found = nullptr;
    changed_.wait(lock, [&] {
        for (Slot& s : slots_)
            if (s.free) found = &s;
        return stopping_ || found;
    });
    if (stopping_) return nullptr;
    found->free = false;
    found->ready = false;
    found->error = nullptr;
    return found;
}

// Three stages: take a slot and the next batch number (in order), build the batch (in parallel,
// each batch's samples in parallel too), publish it (in order). At most `depth` batches are in
// flight, and a slot is only reused once next() has copied it out.
void BatchStream::produce() {
    // More threads than oneTBB may run would only be refused, with a warning on stderr.
    tbb::task_arena arena(std::min(o_.threads, tbb::info::default_concurrency()));
    arena.execute([&] {
        tbb::parallel_pipeline(
            slots_.size(),
            tbb::make_filter<void, Slot*>(tbb::filter_mode::serial_in_order,
                                          [&](tbb::flow_control& fc) -> Slot* {
                                              if (next_to_build_ >= o_.end) {
                                                  fc.stop();
                                                  return nullptr;
                                              }
                                              Slot* s = take_free_slot();
                                              if (!s) {
                                                  fc.stop();
                                                  return nullptr;
                                              }
                                              s->batch = next_to_build_++;
                                              return s;
                                          }) &
                tbb::make_filter<Slot*, Slot*>(tbb::filter_mode::parallel,
                                               [&](Slot* s) {
                                                   try {
                                                       s->real = loader_.fill(o_.seed, o_.epoch, s->batch, o_.batch,
                                                                              o_.shuffle, s->images.data(),
                                                                              s->labels.data(), Threads::tbb);
                                                   } catch (...) {
                                                       s->error = std::current_exception();
                                                   }
                                                   return s;
                                               }) &
                tbb::make_filter<Slot*, void>(tbb::filter_mode::serial_in_order, [&](Slot* s) {
                    {
                        const std::lock_guard lock(mutex_);
                        s->ready = true;
                    }
                    changed_.notify_all();
                }));
    });
}

int BatchStream::next(float* images, std::int32_t* labels) {
    if (done()) throw std::logic_error("BatchStream::next past the end of the pass");
    const std::size_t b = next_++;
    if (o_.threads <= 0)
        return loader_.fill(o_.seed, o_.epoch, b, o_.batch, o_.shuffle, images, labels, Threads::openmp);
    std::unique_lock lock(mutex_);
    Slot* s = nullptr;
    changed_.wait(lock, [&] {
        for (Slot& x : slots_)
            if (!x.free && x.ready && x.batch == b) s = &x;
        return s != nullptr;
    });
    lock.unlock();
    const std::exception_ptr error = s->error;
    if (!error) {
        std::memcpy(images, s->images.data(), s->images.size() * sizeof(float));
        std::memcpy(labels, s->labels.data(), s->labels.size() * sizeof(std::int32_t));
    }
    const int real = s->real;
    {
        const std::lock_guard guard(mutex_);
        s->free = true;
    }
    changed_.notify_all();
    if (error) std::rethrow_exception(error);
    return real;
}

}  // namespace deeper::runners::data
