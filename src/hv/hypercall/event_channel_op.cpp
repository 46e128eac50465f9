// HYPERVISOR_event_channel_op (public/event_channel.h): the 2-level subset of the foundation.
#include <cstdint>
#include <xen/event_channel.h>
#include "hv/domain/domain.hpp"
#include "hv/hypercall/op_call.hpp"

namespace kxen::hv {
namespace {

Domain* self(Caller& c) { return c.dom; }

XenResult<void> bind_virq(Caller& c, evtchn_bind_virq_t& op) {
    if (!self(c)) return xen_fail(XenErr::inval);
    auto p = c.dom->evtchns().bind_virq(op.virq, op.vcpu, c.dom->max_vcpus());
    if (!p) return xen_fail(p.error());
    op.port = *p;
    return {};
}

XenResult<void> bind_ipi(Caller& c, evtchn_bind_ipi_t& op) {
    if (!self(c)) return xen_fail(XenErr::inval);
    auto p = c.dom->evtchns().bind_ipi(op.vcpu, c.dom->max_vcpus());
    if (!p) return xen_fail(p.error());
    op.port = *p;
    return {};
}

XenResult<void> close(Caller& c, evtchn_close_t& op) {
    if (!self(c)) return xen_fail(XenErr::inval);
    return c.dom->evtchns().close(op.port);
}

XenResult<void> send(Caller& c, evtchn_send_t& op) {
    if (!self(c)) return xen_fail(XenErr::inval);
    auto p = c.dom->evtchns().get(op.port);
    if (!p) return xen_fail(p.error());
    using S = evtchn::Port::State;
    if (p->state == S::ipi) evtchn::set_pending(*c.dom, op.port);
    else if (p->state == S::free) return xen_fail(XenErr::inval);
    // virq ports ignore sends, as in Xen; interdomain arrives with the evtchn issue.
    return {};
}

XenResult<void> unmask(Caller& c, evtchn_unmask_t& op) {
    if (!self(c)) return xen_fail(XenErr::inval);
    return evtchn::unmask(*c.dom, op.port);
}

XenResult<void> status(Caller& c, evtchn_status_t& op) {
    auto d = target_domain(c, op.dom);
    if (!d) return xen_fail(d.error());
    auto p = (*d)->evtchns().get(op.port);
    if (!p) return xen_fail(p.error());
    using S = evtchn::Port::State;
    op.vcpu = p->vcpu;
    switch (p->state) {
    case S::free: op.status = EVTCHNSTAT_closed; break;
    case S::reserved: op.status = EVTCHNSTAT_closed; break;
    case S::unbound: op.status = EVTCHNSTAT_unbound; break;
    case S::interdomain: op.status = EVTCHNSTAT_interdomain; break;
    case S::virq: op.status = EVTCHNSTAT_virq; op.u.virq = p->virq; break;
    case S::ipi: op.status = EVTCHNSTAT_ipi; break;
    }
    return {};
}

XenResult<void> bind_vcpu(Caller& c, evtchn_bind_vcpu_t& op) {
    if (!self(c)) return xen_fail(XenErr::inval);
    return c.dom->evtchns().bind_vcpu(op.port, op.vcpu, c.dom->max_vcpus());
}

XenResult<void> reset(Caller& c, evtchn_reset_t& op) {
    auto d = target_domain(c, op.dom);
    if (!d) return xen_fail(d.error());
    (*d)->evtchns().reset();
    return {};
}

constexpr auto rows = [] {
    std::array<long (*)(Caller&, std::uint64_t), 16> t{};
    t[EVTCHNOP_bind_virq] = op_call<evtchn_bind_virq_t, bind_virq, Dir::inout>;
    t[EVTCHNOP_bind_ipi] = op_call<evtchn_bind_ipi_t, bind_ipi, Dir::inout>;
    t[EVTCHNOP_close] = op_call<evtchn_close_t, close, Dir::in>;
    t[EVTCHNOP_send] = op_call<evtchn_send_t, send, Dir::in>;
    t[EVTCHNOP_status] = op_call<evtchn_status_t, status, Dir::inout>;
    t[EVTCHNOP_unmask] = op_call<evtchn_unmask_t, unmask, Dir::in>;
    t[EVTCHNOP_bind_vcpu] = op_call<evtchn_bind_vcpu_t, bind_vcpu, Dir::in>;
    t[EVTCHNOP_reset] = op_call<evtchn_reset_t, reset, Dir::in>;
    return t;
}();

} // namespace

long do_event_channel_op(Caller& c, Args const& a) {
    auto cmd = a[0];
    if (cmd >= rows.size() || !rows[cmd]) return xen_ret(XenErr::nosys);
    return rows[cmd](c, a[1]);
}

} // namespace kxen::hv
