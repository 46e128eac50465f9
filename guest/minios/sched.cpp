#include "sched.hpp"

#include "bare.hpp"
#include "evtchn.hpp"
#include "hypercall.hpp"
#include "xen.hpp"

extern "C" {
extern uint8_t block_window_start[], block_window_end[];
extern uint64_t block_rsp, block_stub;
extern volatile uint8_t block_active;
}

namespace minios::sched {

void block() {
    if (xen::present()) sys::trap(SYS_BLOCK);
}

long set_timer(uint64_t abs_ns) {
    vcpu_set_singleshot_timer t{};
    t.timeout_abs_ns = abs_ns;
    t.flags = 0;  // a deadline already past fires at once, which is what we want
    return xen::vcpu_op(VCPUOP_set_singleshot_timer, 0, &t);
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
        sched_shutdown s{};
        s.reason = how == Done::poweroff ? SHUTDOWN_poweroff : how == Done::reboot ? SHUTDOWN_reboot : SHUTDOWN_crash;
        xen::sched_op(SCHEDOP_shutdown, &s);
    }
    // `stay`, or a shutdown that returned: idle without burning a pCPU. In ring 0
    // (a fatal trap) there is no one left to wake us.
    if (x86::cpl() == 0) bare::halt();
    for (;;) block();
}

void abort_block(evtchn::UpcallFrame* f) {
    if (!block_active) return;  // not from the window: a hypervisor that ignored IF=0
    uint64_t rip = f->rip;
    bool in_window = rip >= uint64_t(block_window_start) && rip <= uint64_t(block_window_end);
    bool in_stub = rip >= block_stub && rip < block_stub + HYPERCALL_STUB_SIZE;
    if (!in_window && !in_stub) return;
    f->rip = uint64_t(block_window_end);
    f->rsp = block_rsp;
    f->rax = 0;
}

}  // namespace minios::sched
