// minios::sched: blocking, timers and the end of the domain.
#pragma once
#include <stdint.h>

namespace minios::sched {

enum class Done { poweroff, reboot, crash, stay };

// SCHEDOP_block until some event arrives (or spuriously). Xen only.
void block();
// Same, unless an upcall came since evtchn::upcalls() returned `seen` (read it before
// looking for events, so one arriving between the look and the block is not slept through).
void block_since(uint64_t seen);
// VCPUOP_set_singleshot_timer on vCPU 0 at pvclock time `abs_ns`.
long set_timer(uint64_t abs_ns);
// Make sure a timer event comes by `abs_ns`: re-arms only if the one armed last is
// already past or later than that (one hypercall per timeout, not per block).
void timer_by(uint64_t abs_ns);
// VIRQ_TIMER on vCPU 0, bound and unmasked: the port, or < 0 (a Xen errno). Again after
// a resume in a new domain, where the number may differ: read timer_port() afresh.
long bind_timer();
long timer_port();
// Arms again the deadline armed last (a new domain has no timer); false if none was.
bool rearm();
// SCHEDOP_shutdown after console::flush(); without Xen, the QEMU equivalents (bare.hpp).
// `stay` blocks forever, serving control/shutdown (control.hpp).
[[noreturn]] void finish(Done how);

}  // namespace minios::sched
