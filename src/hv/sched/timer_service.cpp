#include "hv/sched/timer_service.hpp"
#include <pthread.h>
#include <time.h>
#include <algorithm>
#include <chrono>

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

TimerService::Id TimerService::at(std::uint64_t deadline_ns, std::function<void()> fn) {
    bool earliest;
    Id id;
    {
        std::lock_guard g{mu_};
        id = next_++;
        earliest = queue_.empty() || deadline_ns < queue_.begin()->first.first;
        queue_.emplace(std::pair{deadline_ns, id}, std::move(fn));
        deadline_of_.emplace(id, deadline_ns);
    }
    if (earliest) cv_.notify_one();
    return id;
}

void TimerService::cancel(Id id) {
    std::lock_guard g{mu_};
    auto it = deadline_of_.find(id);
    if (it == deadline_of_.end()) return;
    queue_.erase({it->second, id});
    deadline_of_.erase(it);
}

std::size_t TimerService::pending() const {
    std::lock_guard g{mu_};
    return queue_.size();
}

void TimerService::loop() {
    // Sleep at most this long at a time: a far-future deadline (guests may pass any 64-bit
    // time) must not turn into an overflowing wait.
    constexpr std::uint64_t max_sleep_ns = 1'000'000'000;
    std::unique_lock g{mu_};
    while (!stop_) {
        if (queue_.empty()) {
            cv_.wait(g);
            continue;
        }
        auto now = monotonic_ns();
        auto first = queue_.begin();
        if (first->first.first > now) {
            cv_.wait_for(g, std::chrono::nanoseconds(std::min(first->first.first - now, max_sleep_ns)));
            continue;
        }
        auto fn = std::move(first->second);
        deadline_of_.erase(first->first.second);
        queue_.erase(first);
        g.unlock();
        fn();
        g.lock();
    }
}

} // namespace kxen::hv
