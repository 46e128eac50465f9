// Delivery of a raised port into a guest, per event-channel ABI (Xen's evtchn_port_ops): the
// 2-level bitmaps in shared_info, or the FIFO queues once the guest set them up.
#pragma once
#include <cstdint>
#include <xen/event_channel.h>
#include "common/xen_err.hpp"

namespace kxen::hv {
class Domain;
class Vcpu;
}

namespace kxen::hv::evtchn {

inline constexpr std::uint32_t nr_ports_2l = sizeof(xen_ulong_t) * 8 * sizeof(xen_ulong_t) * 8;
// The 2-level ABI's reach for this domain: nr_ports_2l, or 1024 with the 32-bit shared_info.
[[nodiscard]] std::uint32_t nr_ports_2l_of(Domain const& d);

void deliver(Domain& d, Vcpu& v, evtchn_port_t port, unsigned priority);
void clear_pending(Domain& d, evtchn_port_t port);
[[nodiscard]] bool is_pending(Domain& d, evtchn_port_t port);
// SCHEDOP_poll: wake `v` if it polls `port`.
void wake_poller(Vcpu& v, evtchn_port_t port);
// The vCPU has events: set evtchn_upcall_pending and wake or kick it.
void mark_events_pending(Vcpu& v);

namespace l2 {
void deliver(Domain& d, Vcpu& v, evtchn_port_t port);
void clear_pending(Domain& d, evtchn_port_t port);
bool is_pending(Domain& d, evtchn_port_t port);
XenResult<void> unmask(Domain& d, Vcpu& v, evtchn_port_t port);
} // namespace l2

} // namespace kxen::hv::evtchn
