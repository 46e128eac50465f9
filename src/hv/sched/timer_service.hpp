// kxen::hv::TimerService: one thread that fires callbacks at CLOCK_MONOTONIC deadlines.
// Guest timers (singleshot, periodic, poll timeouts) all go through it; a callback must be
// short (it marks an event pending and wakes a vCPU). Each armed timer is one entry, and
// re-arming cancels the old one, so a guest cannot grow the queue by re-arming in a loop.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace kxen::hv {

std::uint64_t monotonic_ns();

class TimerService {
public:
    using Id = std::uint64_t;   // 0 is never a timer
    TimerService();
    ~TimerService();
    Id at(std::uint64_t deadline_ns, std::function<void()> fn);
    // No effect if the timer already fired (callers also check a generation for that race).
    void cancel(Id id);
    [[nodiscard]] std::size_t pending() const;

private:
    void loop();
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::pair<std::uint64_t, Id>, std::function<void()>> queue_;   // by deadline
    std::unordered_map<Id, std::uint64_t> deadline_of_;
    Id next_ = 1;
    bool stop_ = false;
    std::thread thread_;
};

} // namespace kxen::hv
