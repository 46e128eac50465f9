// console-lines: numbered lines on the console for as long as the domain lives, one every
// period_ms= (5): `console-lines: <n> <padding>`, n from 1 with no gap, so that whoever reads
// the log can tell lost lines from duplicated ones (the fault tests kill the console backend
// meanwhile). `width=` (40) pads each line to about that many bytes.
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../sched.hpp"
#include "../time.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {

void console_lines() {
    need_xen();
    uint64_t period_ms, width;
    if (!cmdline::get_u64("period_ms", 5, &period_ms)) fail("bad period_ms");
    if (!cmdline::get_u64("width", 40, &width) || width > 200) fail("bad width");
    char pad[201];
    for (uint64_t i = 0; i < width; ++i) pad[i] = '.';
    pad[width] = '\0';
    running();
    uint64_t next = time::now_ns();
    for (uint64_t n = 1;; ++n) {
        console::println("console-lines: %lu %s", n, pad);
        next += period_ms * 1'000'000;
        while (time::now_ns() < next) {
            uint64_t seen = evtchn::upcalls();
            // A timer event left pending would raise no upcall for the next one.
            evtchn::take(evtchn_port_t(timer_port()));
            sched::timer_by(next);
            sched::block_since(seen);
        }
    }
}

}  // namespace minios::tests
