// kxen::hv::TimerService: one thread that fires callbacks at CLOCK_MONOTONIC deadlines.
// Guest timers (singleshot, periodic, poll timeouts) all go through it; a callback must be
// short (it marks an event pending and wakes a vCPU).
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace kxen::hv {

std::uint64_t monotonic_ns();

class TimerService {
public:
    TimerService();
    ~TimerService();
    // Cancelling is the caller's job: callbacks carry a generation they compare on firing.
    void at(std::uint64_t deadline_ns, std::function<void()> fn);

private:
    struct Entry {
        std::uint64_t deadline;
        std::uint64_t seq;
        std::function<void()> fn;
        bool operator>(Entry const& o) const {
            return deadline != o.deadline ? deadline > o.deadline : seq > o.seq;
        }
    };
    void loop();
    std::mutex mu_;
    std::condition_variable cv_;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
    std::uint64_t seq_ = 0;
    bool stop_ = false;
    std::thread thread_;
};

} // namespace kxen::hv
