// minios::time: nanoseconds since boot, computed in ring 3 with rdtsc and a
// pvclock record (Xen: shared_info vcpu_info[0].time; bare KVM: kvmclock), so
// reading the time never traps.
#pragma once
#include <stdint.h>

namespace minios::time {

// After shared_info is mapped (when Xen is present).
void init();
uint64_t now_ns();
const char* source();  // "xen-pvclock", "kvmclock" or "tsc"

// now_ns() as the hypervisor counts it, for absolute timer deadlines (they differ after a
// resume on a host whose clock is behind ours).
uint64_t to_system(uint64_t ns);
// Around a suspend: a new domain may run on a hypervisor whose system time started later,
// so now_ns() would jump back; resumed() (after shared_info is mapped again) makes it
// carry on from where suspending() left it instead.
void suspending();
void resumed();

}  // namespace minios::time
