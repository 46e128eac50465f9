#include "sched.hpp"

#include "bare.hpp"
#include "console.hpp"
#include "control.hpp"
#include "evtchn.hpp"
#include "hypercall.hpp"
#include "time.hpp"
#include "xen.hpp"

namespace minios::sched {

namespace {
constinit uint64_t timer_at = 0;  // the deadline armed last (0: none)
constinit long timer_port_ = -1;
}

void block() {
    if (xen::present()) sys::trap(SYS_BLOCK, ~0ull);
}

void block_since(uint64_t seen) {
    if (xen::present()) sys::trap(SYS_BLOCK, seen);
}

void timer_by(uint64_t abs_ns) {
    if (timer_at > time::now_ns() && timer_at <= abs_ns) return;
    set_timer(abs_ns);
}

long set_timer(uint64_t abs_ns) {
    timer_at = abs_ns;
    vcpu_set_singleshot_timer t{};
    t.timeout_abs_ns = time::to_system(abs_ns);
    t.flags = 0;  // a deadline already past fires at once, which is what we want
    return xen::vcpu_op(VCPUOP_set_singleshot_timer, 0, &t);
}

long bind_timer() {
    long port = evtchn::bind_virq(VIRQ_TIMER, 0);
    if (port >= 0) evtchn::unmask(evtchn_port_t(port));
    return timer_port_ = port;
}

long timer_port() { return timer_port_; }

bool rearm() {
    if (!timer_at) return false;
    set_timer(timer_at);
    return true;
}

void finish(Done how) {
    if (!xen::present()) {
        switch (how) {
        case Done::poweroff: bare::debug_exit(0);
        case Done::crash: bare::debug_exit(1);
        case Done::reboot: bare::reset();
        case Done::stay: bare::halt();
        }
    }
    if (how != Done::stay) {
        console::flush();
        sched_shutdown s{};
        s.reason = how == Done::poweroff ? SHUTDOWN_poweroff : how == Done::reboot ? SHUTDOWN_reboot : SHUTDOWN_crash;
        xen::sched_op(SCHEDOP_shutdown, &s);
    }
    // `stay`, or a shutdown that returned: idle without burning a pCPU, serving
    // control/shutdown so the toolstack can still end us. In ring 0 (a fatal trap) there
    // is no one left to wake us.
    if (x86::cpl() == 0) bare::halt();
    if (how == Done::stay) control::start();
    control::idle_forever();
}

}  // namespace minios::sched
