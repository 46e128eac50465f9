// HYPERVISOR_event_channel_op (public/event_channel.h). The caller's table is its domain's,
// or dom0's for host processes over privcmd.
#include <cstdint>
#include <xen/event_channel.h>
#include "hv/domain/domain.hpp"
#include "hv/evtchn/port_ops.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/op_call.hpp"

namespace kxen::hv {
namespace {

evtchn::Table& own_table(Caller& c) { return c.dom ? c.dom->evtchns() : c.hv.dom0_evtchns(); }

// The table a privileged caller names, or its own.
XenResult<evtchn::Table*> named_table(Caller& c, std::uint64_t domid, std::shared_ptr<Domain>& keep) {
    if ((domid & 0xffff) == DOMID_SELF || (c.privileged() && (domid & 0xffff) == 0)) return &own_table(c);
    auto d = target_domain(c, domid);
    if (!d) return xen_fail(d.error());
    keep = *d;
    return &keep->evtchns();
}

XenResult<void> alloc_unbound(Caller& c, evtchn_alloc_unbound_t& op) {
    std::shared_ptr<Domain> keep;
    auto t = named_table(c, op.dom, keep);
    if (!t) return xen_fail(t.error());
    std::uint16_t remote = op.remote_dom == DOMID_SELF ? c.id() : op.remote_dom;
    if (remote >= DOMID_FIRST_RESERVED) return xen_fail(XenErr::inval);
    auto p = (*t)->alloc_unbound(remote);
    if (!p) return xen_fail(p.error());
    op.port = *p;
    return {};
}

XenResult<void> bind_interdomain(Caller& c, evtchn_bind_interdomain_t& op) {
    std::uint16_t rdom = op.remote_dom == DOMID_SELF ? c.id() : op.remote_dom;
    std::shared_ptr<Domain> keep;
    evtchn::Table* remote;
    if (rdom == 0) {
        remote = &c.hv.dom0_evtchns();
    } else {
        keep = c.hv.lookup(rdom);   // any domain may bind to a port offered to it
        if (!keep) return xen_fail(XenErr::srch);
        remote = &keep->evtchns();
    }
    auto p = evtchn::bind_interdomain(own_table(c), *remote, op.remote_port);
    if (!p) return xen_fail(p.error());
    op.local_port = *p;
    // public/event_channel.h: the local port is always set pending after binding.
    evtchn::set_pending(own_table(c), *p);
    return {};
}

XenResult<void> bind_virq(Caller& c, evtchn_bind_virq_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    auto p = c.dom->evtchns().bind_virq(op.virq, op.vcpu, c.dom->max_vcpus());
    if (!p) return xen_fail(p.error());
    op.port = *p;
    return {};
}

XenResult<void> bind_ipi(Caller& c, evtchn_bind_ipi_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    auto p = c.dom->evtchns().bind_ipi(op.vcpu, c.dom->max_vcpus());
    if (!p) return xen_fail(p.error());
    op.port = *p;
    return {};
}

XenResult<void> close(Caller& c, evtchn_close_t& op) { return evtchn::close(c.hv, own_table(c), op.port); }

XenResult<void> send(Caller& c, evtchn_send_t& op) { return evtchn::send(c.hv, own_table(c), op.port); }

XenResult<void> unmask(Caller& c, evtchn_unmask_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    return evtchn::unmask(*c.dom, op.port);
}

XenResult<void> status(Caller& c, evtchn_status_t& op) {
    std::shared_ptr<Domain> keep;
    auto t = named_table(c, op.dom, keep);
    if (!t) return xen_fail(t.error());
    auto p = (*t)->get(op.port);
    if (!p) return xen_fail(p.error());
    using S = evtchn::Port::State;
    op.vcpu = p->vcpu;
    switch (p->state) {
    case S::free:
    case S::reserved: op.status = EVTCHNSTAT_closed; break;
    case S::unbound: op.status = EVTCHNSTAT_unbound; op.u.unbound.dom = p->remote_dom; break;
    case S::interdomain:
        op.status = EVTCHNSTAT_interdomain;
        op.u.interdomain.dom = p->remote_dom;
        op.u.interdomain.port = p->remote_port;
        break;
    case S::virq: op.status = EVTCHNSTAT_virq; op.u.virq = p->virq; break;
    case S::ipi: op.status = EVTCHNSTAT_ipi; break;
    }
    return {};
}

XenResult<void> bind_vcpu(Caller& c, evtchn_bind_vcpu_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    return c.dom->evtchns().bind_vcpu(op.port, op.vcpu, c.dom->max_vcpus());
}

XenResult<void> reset(Caller& c, evtchn_reset_t& op) {
    std::shared_ptr<Domain> keep;
    auto t = named_table(c, op.dom, keep);
    if (!t) return xen_fail(t.error());
    evtchn::close_all(c.hv, **t);
    return {};
}

XenResult<void> init_control(Caller& c, evtchn_init_control_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    // Validate before switching ABI: a failed call must leave a 2-level guest on 2-level.
    if (op.vcpu >= c.dom->max_vcpus()) return xen_fail(XenErr::noent);
    if ((op.offset & 7) || op.offset > 4096 - sizeof(evtchn_fifo_control_block)) return xen_fail(XenErr::inval);
    if (op.control_gfn >= (1ull << 40) ||
        !c.dom->gpa_ptr((op.control_gfn << 12) + op.offset, sizeof(evtchn_fifo_control_block)))
        return xen_fail(XenErr::inval);
    if (auto r = c.dom->use_fifo().init_control(*c.dom, op.vcpu, op.control_gfn, op.offset); !r) return r;
    op.link_bits = EVTCHN_FIFO_LINK_BITS;
    return {};
}

XenResult<void> expand_array(Caller& c, evtchn_expand_array_t& op) {
    if (!c.dom || !c.dom->fifo()) return xen_fail(XenErr::inval);
    return c.dom->fifo()->expand_array(*c.dom, op.array_gfn);
}

XenResult<void> set_priority(Caller& c, evtchn_set_priority_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    if (!c.dom->fifo()) return xen_fail(XenErr::nosys);   // only the FIFO ABI has priorities
    return c.dom->evtchns().set_priority(op.port, op.priority);
}

constexpr auto rows = [] {
    std::array<long (*)(Caller&, std::uint64_t), 16> t{};
    t[EVTCHNOP_bind_interdomain] = op_call<evtchn_bind_interdomain_t, bind_interdomain, Dir::inout>;
    t[EVTCHNOP_bind_virq] = op_call<evtchn_bind_virq_t, bind_virq, Dir::inout>;
    t[EVTCHNOP_close] = op_call<evtchn_close_t, close, Dir::in>;
    t[EVTCHNOP_send] = op_call<evtchn_send_t, send, Dir::in>;
    t[EVTCHNOP_status] = op_call<evtchn_status_t, status, Dir::inout>;
    t[EVTCHNOP_alloc_unbound] = op_call<evtchn_alloc_unbound_t, alloc_unbound, Dir::inout>;
    t[EVTCHNOP_bind_ipi] = op_call<evtchn_bind_ipi_t, bind_ipi, Dir::inout>;
    t[EVTCHNOP_bind_vcpu] = op_call<evtchn_bind_vcpu_t, bind_vcpu, Dir::in>;
    t[EVTCHNOP_unmask] = op_call<evtchn_unmask_t, unmask, Dir::in>;
    t[EVTCHNOP_reset] = op_call<evtchn_reset_t, reset, Dir::in>;
    t[EVTCHNOP_init_control] = op_call<evtchn_init_control_t, init_control, Dir::inout>;
    t[EVTCHNOP_expand_array] = op_call<evtchn_expand_array_t, expand_array, Dir::in>;
    t[EVTCHNOP_set_priority] = op_call<evtchn_set_priority_t, set_priority, Dir::in>;
    return t;
}();

} // namespace

long do_event_channel_op(Caller& c, Args const& a) {
    auto cmd = a[0];
    if (cmd >= rows.size() || !rows[cmd]) return xen_ret(XenErr::nosys);
    return rows[cmd](c, a[1]);
}

} // namespace kxen::hv
