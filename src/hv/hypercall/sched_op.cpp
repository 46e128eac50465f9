// HYPERVISOR_sched_op (public/sched.h).
#include <cstdint>
#include <xen/sched.h>
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/evtchn/port_ops.hpp"
#include "hv/hypercall/op_call.hpp"
#include "hv/sched/vcpu_timer.hpp"

namespace kxen::hv {
namespace {

bool upcall_pending(Vcpu& v) {
    auto* vi = v.info();
    return vi && __atomic_load_n(&vi->evtchn_upcall_pending, __ATOMIC_SEQ_CST);
}

// Xen's vcpu_block(): sleep unless an event is already waiting (checked after setting the
// flag, so a wake between the two is not lost).
void block(Vcpu& v) {
    v.blocked = true;
    if (upcall_pending(v)) v.blocked = false;
}

XenResult<long> shutdown(Caller& c, sched_shutdown_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    if (op.reason > SHUTDOWN_MAX) return xen_fail(XenErr::inval);
    if (op.reason == SHUTDOWN_suspend && c.dom->take_abandoned_suspend()) return 1;   // cancelled
    c.dom->shutdown(op.reason);
    return 0;
}

XenResult<void> shutdown_code(Caller& c, sched_shutdown_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    c.dom->set_shutdown_code(op.reason);
    return {};
}

XenResult<void> remote_shutdown(Caller& c, sched_remote_shutdown_t& op) {
    if (!c.privileged()) return xen_fail(XenErr::perm);
    auto d = target_domain(c, op.domain_id);
    if (!d) return xen_fail(d.error());
    if (op.reason > SHUTDOWN_MAX) return xen_fail(XenErr::inval);
    (*d)->shutdown(op.reason);
    return {};
}

XenResult<void> poll(Caller& c, sched_poll_t& op) {
    if (!c.vcpu) return xen_fail(XenErr::inval);
    Vcpu& v = *c.vcpu;
    auto* s = c.dom->shinfo();
    if (!s || op.nr_ports > 128) return xen_fail(XenErr::inval);
    std::vector<std::uint32_t> ports(op.nr_ports);
    for (unsigned i = 0; i < op.nr_ports; ++i) {
        auto p = c.mem.copy_from<evtchn_port_t>(handle_addr(op.ports) + i * sizeof(evtchn_port_t));
        if (!p) return xen_fail(XenErr::fault);
        if (*p >= c.dom->evtchns().max_ports()) return xen_fail(XenErr::inval);
        if (evtchn::is_pending(*c.dom, *p)) return {};   // already pending: return at once
        ports[i] = *p;
    }
    {
        std::lock_guard g{v.timer_mu};
        v.poll_ports = std::move(ports);
    }
    if (op.timeout) set_singleshot_timer(v, op.timeout);
    v.blocked = true;
    return {};
}

XenResult<long> yield(Caller& c) {
    if (c.vcpu) c.vcpu->yield = true;
    return 0;
}

} // namespace

long do_sched_op(Caller& c, Args const& a) {
    switch (a[0]) {
    case SCHEDOP_yield: return *yield(c);
    case SCHEDOP_block:
        if (!c.vcpu) return xen_ret(XenErr::inval);
        block(*c.vcpu);
        return 0;
    case SCHEDOP_shutdown: return op_call<sched_shutdown_t, shutdown, Dir::in>(c, a[1]);
    case SCHEDOP_shutdown_code: return op_call<sched_shutdown_t, shutdown_code, Dir::in>(c, a[1]);
    case SCHEDOP_poll: return op_call<sched_poll_t, poll, Dir::in>(c, a[1]);
    case SCHEDOP_remote_shutdown: return op_call<sched_remote_shutdown_t, remote_shutdown, Dir::in>(c, a[1]);
    case SCHEDOP_watchdog: return xen_ret(XenErr::nosys);
    default: return xen_ret(XenErr::nosys);
    }
}

} // namespace kxen::hv
