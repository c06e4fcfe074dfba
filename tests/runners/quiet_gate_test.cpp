// The quiet gate: a latency timing waits for the steps under way beside it and holds new ones
// back until it is done, so that trainings with --jobs K do not share its cores while it times.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "runners/engine/quiet_gate.hpp"

using deeper::runners::QuietGate;

namespace {

void wait_a_little() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

}  // namespace

TEST_CASE("a timing waits for the step under way beside it", "[engine][latency]") {
    QuietGate g;
    std::atomic<bool> timing{false};
    std::thread timer;
    {
        const QuietGate::Work step(g);
        timer = std::thread([&] {
            const QuietGate::Quiet q(g);
            timing = true;
            CHECK(g.working() == 0);
        });
        wait_a_little();
        CHECK_FALSE(timing);  // the step still runs: the timing has not begun
    }
    timer.join();
    CHECK(timing);
}

TEST_CASE("steps wait while a timing runs, and timings take turns", "[engine][latency]") {
    QuietGate g;
    std::atomic<int> steps{0};
    std::atomic<bool> second_timing{false};
    std::thread worker, other_timer;
    {
        const QuietGate::Quiet q(g);
        worker = std::thread([&] {
            for (int i = 0; i < 3; ++i) {
                const QuietGate::Work w(g);
                ++steps;
            }
        });
        other_timer = std::thread([&] {
            const QuietGate::Quiet q2(g);
            second_timing = true;
        });
        wait_a_little();
        CHECK(steps == 0);
        CHECK_FALSE(second_timing);
        CHECK(g.working() == 0);
    }
    worker.join();
    other_timer.join();
    CHECK(steps == 3);
    CHECK(second_timing);
}
