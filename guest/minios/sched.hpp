// minios::sched: blocking, timers and the end of the domain.
#pragma once
#include <stdint.h>

namespace minios::evtchn {
struct UpcallFrame;
}

namespace minios::sched {

enum class Done { poweroff, reboot, crash, stay };

// SCHEDOP_block until some event arrives (or spuriously). Xen only.
void block();
// VCPUOP_set_singleshot_timer on vCPU 0 at pvclock time `abs_ns`.
long set_timer(uint64_t abs_ns);
// SCHEDOP_shutdown; without Xen, the QEMU equivalents (bare.hpp). `stay` blocks forever.
[[noreturn]] void finish(Done how);

// Ring 0, from the upcall: resume an interrupted SYS_BLOCK past its hypercall
// (entry.S explains the race this closes).
void abort_block(evtchn::UpcallFrame* f);

}  // namespace minios::sched
