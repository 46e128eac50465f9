// idle: blocks on one-shot timers forever. Each wakeup re-arms the timer
// period_ms ahead; after `ticks` timer events it checks that pvclock advanced by
// at least ticks * period and reports PASS, then keeps going (heartbeat every 100).
// Serves control/shutdown meanwhile, suspend included. Without Xen there is nothing to block on: it waits
// on the clock and ends.
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../control.hpp"
#include "../evtchn.hpp"
#include "../time.hpp"
#include "../x86.hpp"
#include "../xen.hpp"
#include "test.hpp"

namespace minios::tests {

void idle() {
    uint64_t period_ms, ticks;
    if (!cmdline::get_u64("period_ms", 10, &period_ms) || !period_ms) fail("bad period_ms");
    if (!cmdline::get_u64("ticks", 20, &ticks) || !ticks) fail("bad ticks");
    uint64_t const period = period_ms * 1'000'000;
    uint64_t const start = time::now_ns();

    if (!xen::present()) {
        console::println("idle: no xen, busy-waiting on %s", time::source());
        uint64_t deadline = start;
        for (uint64_t i = 0; i < ticks; ++i) {
            deadline += period;
            while (time::now_ns() < deadline) x86::pause();
        }
        uint64_t elapsed = time::now_ns() - start;
        if (elapsed < ticks * period) fail("clock advanced %lu ns, want >= %lu", elapsed, ticks * period);
        return;
    }

    if (long port = timer_port(); port < 0) fail("no VIRQ_TIMER port (%ld)", port);
    control::start();  // idles for good: `kxl shutdown` must reach it
    uint64_t blocks = 0;  // more blocks than wakeups: spurious returns from SCHEDOP_block
    for (uint64_t wakeups = 1;; ++wakeups) {
        uint64_t deadline = time::now_ns() + period;
        long rc = sched::set_timer(deadline);
        if (rc < 0) fail("VCPUOP_set_singleshot_timer: %ld", rc);
        for (;;) {
            uint64_t seen = evtchn::upcalls();  // before looking: see sched::block_since
            // Read afresh: a resume in a new domain binds the timer again, maybe elsewhere.
            if (evtchn::take(evtchn_port_t(timer_port()))) break;
            control::poll();
            sched::block_since(seen);
            ++blocks;
        }
        uint64_t now = time::now_ns();
        if (uint64_t n = evtchn::upcalls_with_if_clear())
            fail("%lu upcalls were injected while interrupts were disabled", n);
        if (wakeups == ticks) {
            uint64_t elapsed = now - start;
            if (elapsed < ticks * period)
                fail("%lu timer wakeups in %lu ns, want >= %lu ns", ticks, elapsed, ticks * period);
            console::println("idle: %lu wakeups in %lu us (%lu upcalls)", ticks, elapsed / 1000, evtchn::upcalls());
            console::println("KXEN-TEST %s PASS", current());
        }
        if (wakeups % 100 == 0)
            console::println("idle: %lu wakeups, t=%lu ms, %lu upcalls, %lu blocks", wakeups,
                             (now - start) / 1'000'000, evtchn::upcalls(), blocks);
    }
}

}  // namespace minios::tests
