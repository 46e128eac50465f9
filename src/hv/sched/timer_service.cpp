#include "hv/sched/timer_service.hpp"
#include <pthread.h>
#include <time.h>

namespace kxen::hv {

std::uint64_t monotonic_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

TimerService::TimerService() : thread_{[this] { loop(); }} {
    ::pthread_setname_np(thread_.native_handle(), "kxend-timer");
}

TimerService::~TimerService() {
    {
        std::lock_guard g{mu_};
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void TimerService::at(std::uint64_t deadline_ns, std::function<void()> fn) {
    bool earliest;
    {
        std::lock_guard g{mu_};
        earliest = heap_.empty() || deadline_ns < heap_.top().deadline;
        heap_.push(Entry{deadline_ns, seq_++, std::move(fn)});
    }
    if (earliest) cv_.notify_one();
}

void TimerService::loop() {
    std::unique_lock g{mu_};
    while (!stop_) {
        if (heap_.empty()) {
            cv_.wait(g);
            continue;
        }
        auto now = monotonic_ns();
        if (heap_.top().deadline > now) {
            cv_.wait_for(g, std::chrono::nanoseconds(heap_.top().deadline - now));
            continue;
        }
        auto fn = std::move(const_cast<Entry&>(heap_.top()).fn);
        heap_.pop();
        g.unlock();
        fn();
        g.lock();
    }
}

} // namespace kxen::hv
