// kxen::hv::evtchn: event channels (public/event_channel.h). A Table holds one domain's ports;
// dom0 (host processes over privcmd) has a table of its own whose ports kick eventfds.
// Delivery into a guest goes through the ABI it chose: 2-level (evtchn_2l.cpp) or FIFO
// (evtchn_fifo.cpp).
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include <xen/event_channel.h>
#include "common/xen_err.hpp"

namespace kxen::hv {
class Domain;
class Hv;
class Vcpu;
}

namespace kxen::hv::evtchn {

struct Port {
    enum class State : std::uint8_t { free, reserved, unbound, interdomain, virq, ipi };
    State state = State::free;
    std::uint32_t vcpu = 0;             // which vCPU is notified
    std::uint32_t virq = 0;
    std::uint16_t remote_dom = 0;       // unbound: who may bind; interdomain: the peer
    evtchn_port_t remote_port = 0;
    std::uint8_t priority = EVTCHN_FIFO_PRIORITY_DEFAULT;
    int notify_fd = -1;                 // dom0 ports: the eventfd kicked on delivery (not owned)
    std::uint64_t owner = 0;            // dom0 ports: the privcmd connection that bound it
};

class Table {
public:
    // dom == nullptr: dom0's table.
    Table(Domain* dom, std::uint16_t domid) : dom_{dom}, domid_{domid} {}

    [[nodiscard]] Domain* domain() const { return dom_; }
    [[nodiscard]] std::uint16_t domid() const { return domid_; }
    [[nodiscard]] std::uint32_t max_ports() const;

    XenResult<evtchn_port_t> alloc_unbound(std::uint16_t remote_dom);
    XenResult<evtchn_port_t> bind_virq(std::uint32_t virq, std::uint32_t vcpu, std::uint32_t nr_vcpus);
    XenResult<evtchn_port_t> bind_ipi(std::uint32_t vcpu, std::uint32_t nr_vcpus);
    XenResult<void> bind_vcpu(evtchn_port_t port, std::uint32_t vcpu, std::uint32_t nr_vcpus);
    XenResult<void> set_priority(evtchn_port_t port, std::uint32_t priority);
    XenResult<Port> get(evtchn_port_t port) const;
    [[nodiscard]] std::int64_t virq_port(std::uint32_t vcpu, std::uint32_t virq) const;
    // dom0 only: kick the port's eventfd (under the table lock, so a closing connection
    // cannot have closed the fd between our look-up and the write).
    void notify_dom0(evtchn_port_t port);
    // dom0 only: attach the eventfd and owner to a port just bound.
    void set_notify(evtchn_port_t port, int fd, std::uint64_t owner);
    // The ports a dom0 connection bound (to close when it goes away).
    [[nodiscard]] std::vector<evtchn_port_t> ports_of(std::uint64_t owner) const;
    [[nodiscard]] std::vector<evtchn_port_t> open_ports() const;
    // Free the port; returns what it was (close() below also fixes an interdomain peer).
    XenResult<Port> close_local(evtchn_port_t port);

private:
    friend XenResult<evtchn_port_t> bind_interdomain(Table&, Table&, evtchn_port_t);
    friend XenResult<void> close(Hv&, Table&, evtchn_port_t);
    friend void unbind_peer(Table&, std::uint16_t, evtchn_port_t);
    XenResult<evtchn_port_t> alloc_locked();
    Port* port_locked(evtchn_port_t p);

    Domain* dom_;
    std::uint16_t domid_;
    mutable std::mutex mu_;
    std::vector<Port> ports_{1};                    // port 0 is never valid
    std::vector<std::vector<std::int64_t>> virq_;   // [vcpu][virq] -> port or -1
};

// EVTCHNOP_bind_interdomain: `local` binds to remote_port of `remote`, which must be unbound
// and allow local's domain. Both tables are locked together (in a fixed order).
XenResult<evtchn_port_t> bind_interdomain(Table& local, Table& remote, evtchn_port_t remote_port);
// EVTCHNOP_close: an interdomain peer goes back to unbound, as in Xen.
XenResult<void> close(Hv& hv, Table& t, evtchn_port_t port);
// Close everything (EVTCHNOP_reset, domain destruction).
void close_all(Hv& hv, Table& t);
// EVTCHNOP_send from the owner of `t`.
XenResult<void> send(Hv& hv, Table& t, evtchn_port_t port);

// Raise `port` in `t`'s owner: eventfd for dom0, else the guest's ABI.
void set_pending(Table& t, evtchn_port_t port);
void send_virq(Vcpu& v, std::uint32_t virq);
XenResult<void> unmask(Domain& d, evtchn_port_t port);

} // namespace kxen::hv::evtchn
