// The 2-level ABI (Xen's event_2l.c): pending and mask bitmaps in shared_info, one selector
// word per vCPU.
#include <algorithm>
#include <mutex>
#include "hv/domain/domain.hpp"
#include "hv/evtchn/fifo.hpp"
#include "hv/evtchn/port_ops.hpp"
#include "hv/sched/vcpu_timer.hpp"

namespace kxen::hv::evtchn {
namespace {
constexpr unsigned bits = sizeof(xen_ulong_t) * 8;

// The guest updates the same words with locked instructions; so must we.
bool test_and_set(xen_ulong_t volatile* word, unsigned bit) {
    return __atomic_fetch_or(word, xen_ulong_t{1} << bit, __ATOMIC_SEQ_CST) & (xen_ulong_t{1} << bit);
}
bool test(xen_ulong_t volatile* word, unsigned bit) {
    return __atomic_load_n(word, __ATOMIC_SEQ_CST) & (xen_ulong_t{1} << bit);
}
} // namespace

void mark_events_pending(Vcpu& v) {
    auto* vi = v.info();
    if (!vi) return;
    __atomic_store_n(&vi->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST);
    vcpu_notify(v);
}

void wake_poller(Vcpu& v, evtchn_port_t port) {
    std::lock_guard g{v.timer_mu};
    if (!v.poll_ports.empty() && std::ranges::find(v.poll_ports, port) != v.poll_ports.end()) {
        v.poll_ports.clear();
        vcpu_notify(v);
    }
}

namespace l2 {

void deliver(Domain& d, Vcpu& v, evtchn_port_t port) {
    auto* s = d.shinfo();
    auto* vi = v.info();
    if (!s || !vi || port >= nr_ports_2l) return;
    if (test_and_set(&s->evtchn_pending[port / bits], port % bits)) return;
    if (test(&s->evtchn_mask[port / bits], port % bits)) return;
    if (test_and_set(&vi->evtchn_pending_sel, port / bits)) return;
    mark_events_pending(v);
}

void clear_pending(Domain& d, evtchn_port_t port) {
    if (auto* s = d.shinfo(); s && port < nr_ports_2l)
        __atomic_fetch_and(&s->evtchn_pending[port / bits], ~(xen_ulong_t{1} << (port % bits)), __ATOMIC_SEQ_CST);
}

bool is_pending(Domain& d, evtchn_port_t port) {
    auto* s = d.shinfo();
    return s && port < nr_ports_2l && test(&s->evtchn_pending[port / bits], port % bits);
}

XenResult<void> unmask(Domain& d, Vcpu& v, evtchn_port_t port) {
    auto* s = d.shinfo();
    auto* vi = v.info();
    if (!s || !vi || port >= nr_ports_2l) return {};
    // Xen's evtchn_2l_unmask: if it was pending while masked, deliver it now.
    auto mask = xen_ulong_t{1} << (port % bits);
    auto old = __atomic_fetch_and(&s->evtchn_mask[port / bits], ~mask, __ATOMIC_SEQ_CST);
    if ((old & mask) && test(&s->evtchn_pending[port / bits], port % bits) &&
        !test_and_set(&vi->evtchn_pending_sel, port / bits))
        mark_events_pending(v);
    return {};
}

} // namespace l2

void deliver(Domain& d, Vcpu& v, evtchn_port_t port, unsigned priority) {
    if (auto* f = d.fifo()) f->set_pending(v, port, priority);
    else l2::deliver(d, v, port);
}

void clear_pending(Domain& d, evtchn_port_t port) {
    if (auto* f = d.fifo()) f->clear_pending(port);
    else l2::clear_pending(d, port);
}

bool is_pending(Domain& d, evtchn_port_t port) {
    if (auto* f = d.fifo()) return f->is_pending(port);
    return l2::is_pending(d, port);
}

XenResult<void> unmask(Domain& d, evtchn_port_t port) {
    auto p = d.evtchns().get(port);
    if (!p) return xen_fail(XenErr::inval);
    Vcpu* v = d.vcpu(p->vcpu);
    if (!v) return {};
    if (auto* f = d.fifo()) {
        f->clear_masked(port);
        if (f->is_pending(port)) f->set_pending(*v, port, p->priority);
        return {};
    }
    return l2::unmask(d, *v, port);
}

} // namespace kxen::hv::evtchn
