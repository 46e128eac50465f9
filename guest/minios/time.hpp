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

}  // namespace minios::time
