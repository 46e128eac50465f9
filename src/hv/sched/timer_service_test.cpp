#include "hv/sched/timer_service.hpp"
#include <gtest/gtest.h>
#include <atomic>
#include <thread>
#include <time.h>

using namespace kxen::hv;

namespace {
double thread_cpu_seconds_of_process() {
    timespec ts;
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
} // namespace

TEST(TimerService, FiresInDeadlineOrder) {
    TimerService t;
    std::atomic<int> order{0}, first{0}, second{0};
    auto now = monotonic_ns();
    t.at(now + 20'000'000, [&] { second = ++order; });
    t.at(now + 5'000'000, [&] { first = ++order; });
    for (int i = 0; i < 200 && order < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    EXPECT_EQ(first, 1);
    EXPECT_EQ(second, 2);
}

TEST(TimerService, CancelledTimerNeverFiresAndLeavesTheQueue) {
    TimerService t;
    std::atomic<bool> fired{false};
    auto id = t.at(monotonic_ns() + 10'000'000, [&] { fired = true; });
    EXPECT_EQ(t.pending(), 1u);
    t.cancel(id);
    EXPECT_EQ(t.pending(), 0u);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_FALSE(fired);
    t.cancel(id);   // twice is harmless
    t.cancel(0);
}

TEST(TimerService, FarFutureDeadlineDoesNotSpin) {
    // A guest may arm a timer at any 64-bit time; the service must sleep, not busy-loop.
    TimerService t;
    t.at(~0ull - 5, [] {});
    auto before = thread_cpu_seconds_of_process();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_LT(thread_cpu_seconds_of_process() - before, 0.1);
}
