// kxen::hv::evtchn: a domain's event channels, 2-level ABI (public/event_channel.h).
// This is the subset the foundation needs: virq, ipi, loopback send, unmask, close, status.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>
#include <xen/event_channel.h>
#include "common/xen_err.hpp"

namespace kxen::hv {
class Domain;
class Vcpu;
}

namespace kxen::hv::evtchn {

struct Port {
    enum class State : std::uint8_t { free, reserved, unbound, interdomain, virq, ipi };
    State state = State::free;
    std::uint32_t vcpu = 0;    // notify this vCPU
    std::uint32_t virq = 0;
};

class Table {
public:
    static constexpr std::uint32_t nr_ports_2l = sizeof(xen_ulong_t) * 8 * sizeof(xen_ulong_t) * 8;

    XenResult<evtchn_port_t> bind_virq(std::uint32_t virq, std::uint32_t vcpu, std::uint32_t nr_vcpus);
    XenResult<evtchn_port_t> bind_ipi(std::uint32_t vcpu, std::uint32_t nr_vcpus);
    XenResult<void> close(evtchn_port_t port);
    XenResult<Port> get(evtchn_port_t port) const;
    XenResult<void> bind_vcpu(evtchn_port_t port, std::uint32_t vcpu, std::uint32_t nr_vcpus);
    // The port bound to (vcpu, virq), if any.
    [[nodiscard]] std::int64_t virq_port(std::uint32_t vcpu, std::uint32_t virq) const;
    void reset();

private:
    XenResult<evtchn_port_t> alloc_locked();
    mutable std::mutex mu_;
    std::vector<Port> ports_{1};   // port 0 is never valid
    std::vector<std::vector<std::int64_t>> virq_;   // [vcpu][virq] -> port or -1
};

// Raise `port` in `d`: set its pending bit and, unless masked, the vCPU's selector and upcall flag.
void set_pending(Domain& d, evtchn_port_t port);
void send_virq(Vcpu& v, std::uint32_t virq);
XenResult<void> unmask(Domain& d, evtchn_port_t port);

} // namespace kxen::hv::evtchn
