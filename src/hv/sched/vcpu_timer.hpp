// kxen::hv vCPU timers (VCPUOP_set_singleshot_timer, set_periodic_timer, set_timer_op) and
// the wake-up path every event takes.
#pragma once
#include <cstdint>

namespace kxen::hv {

class Vcpu;

// The vCPU has an event for the guest: unblock it if blocked, kick it out of guest mode if
// running so the upcall is injected.
void vcpu_notify(Vcpu& v);

void set_singleshot_timer(Vcpu& v, std::uint64_t deadline_system_ns);
void stop_singleshot_timer(Vcpu& v);
void set_periodic_timer(Vcpu& v, std::uint64_t period_ns);
void stop_periodic_timer(Vcpu& v);
// A dying domain's timers leave the queue at once.
void cancel_timers(Vcpu& v);

} // namespace kxen::hv
