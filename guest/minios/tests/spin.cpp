// spin: a ring-3 loop that never yields, to exercise preemption of a busy vCPU.
// Time is read without trapping (pvclock); only the heartbeat line traps.
#include "../console.hpp"
#include "../time.hpp"
#include "test.hpp"

namespace minios::tests {

void spin() {
    running();
    constexpr uint64_t kSecond = 1'000'000'000;
    uint64_t start = time::now_ns();
    uint64_t next = start + kSecond;
    uint64_t loops = 0;
    for (uint64_t n = 1;; ++loops) {
        uint64_t now = time::now_ns();
        if (now < next) continue;
        console::println("spin: alive %lu (t=%lu ms, %lu loops)", n++, (now - start) / 1'000'000, loops);
        next += kSecond;
        if (next < now) next = now + kSecond;  // descheduled for a long time: don't burst
    }
}

}  // namespace minios::tests
