#include "hv/evtchn/evtchn.hpp"
#include <algorithm>
#include "hv/domain/domain.hpp"
#include "hv/sched/vcpu_timer.hpp"

namespace kxen::hv::evtchn {

XenResult<evtchn_port_t> Table::alloc_locked() {
    for (std::size_t p = 1; p < ports_.size(); ++p)
        if (ports_[p].state == Port::State::free) return static_cast<evtchn_port_t>(p);
    if (ports_.size() >= nr_ports_2l) return xen_fail(XenErr::nospc);
    ports_.emplace_back();
    return static_cast<evtchn_port_t>(ports_.size() - 1);
}

XenResult<evtchn_port_t> Table::bind_virq(std::uint32_t virq, std::uint32_t vcpu, std::uint32_t nr_vcpus) {
    if (virq >= NR_VIRQS) return xen_fail(XenErr::inval);
    if (vcpu >= nr_vcpus) return xen_fail(XenErr::noent);
    std::lock_guard g{mu_};
    if (virq_.size() < nr_vcpus) virq_.resize(nr_vcpus);
    auto& row = virq_[vcpu];
    if (row.empty()) row.assign(NR_VIRQS, -1);
    if (row[virq] >= 0) return xen_fail(XenErr::exist);
    auto p = alloc_locked();
    if (!p) return p;
    ports_[*p] = Port{Port::State::virq, vcpu, virq};
    row[virq] = *p;
    return p;
}

XenResult<evtchn_port_t> Table::bind_ipi(std::uint32_t vcpu, std::uint32_t nr_vcpus) {
    if (vcpu >= nr_vcpus) return xen_fail(XenErr::noent);
    std::lock_guard g{mu_};
    auto p = alloc_locked();
    if (!p) return p;
    ports_[*p] = Port{Port::State::ipi, vcpu, 0};
    return p;
}

XenResult<void> Table::close(evtchn_port_t port) {
    std::lock_guard g{mu_};
    if (port == 0 || port >= ports_.size()) return xen_fail(XenErr::inval);
    auto& p = ports_[port];
    if (p.state == Port::State::free) return xen_fail(XenErr::inval);
    if (p.state == Port::State::virq && p.vcpu < virq_.size() && !virq_[p.vcpu].empty())
        virq_[p.vcpu][p.virq] = -1;
    p = Port{};
    return {};
}

XenResult<Port> Table::get(evtchn_port_t port) const {
    std::lock_guard g{mu_};
    if (port == 0 || port >= ports_.size()) return xen_fail(XenErr::inval);
    return ports_[port];
}

XenResult<void> Table::bind_vcpu(evtchn_port_t port, std::uint32_t vcpu, std::uint32_t nr_vcpus) {
    if (vcpu >= nr_vcpus) return xen_fail(XenErr::noent);
    std::lock_guard g{mu_};
    if (port == 0 || port >= ports_.size()) return xen_fail(XenErr::inval);
    auto& p = ports_[port];
    // Xen: per-vCPU VIRQs stay on their vCPU; only global ones and interdomain/unbound move.
    if (p.state != Port::State::unbound && p.state != Port::State::interdomain)
        return xen_fail(XenErr::inval);
    p.vcpu = vcpu;
    return {};
}

std::int64_t Table::virq_port(std::uint32_t vcpu, std::uint32_t virq) const {
    std::lock_guard g{mu_};
    if (vcpu >= virq_.size() || virq_[vcpu].empty() || virq >= NR_VIRQS) return -1;
    return virq_[vcpu][virq];
}

void Table::reset() {
    std::lock_guard g{mu_};
    ports_.assign(1, Port{});
    virq_.clear();
}

namespace {
constexpr unsigned bits = sizeof(xen_ulong_t) * 8;

bool test_and_set(xen_ulong_t volatile* word, unsigned bit) {
    // The guest updates the same words with locked instructions; so must we.
    return __atomic_fetch_or(word, xen_ulong_t{1} << bit, __ATOMIC_SEQ_CST) & (xen_ulong_t{1} << bit);
}

// 2-level delivery (Xen's evtchn_2l_set_pending + vcpu_mark_events_pending).
void mark_pending(Domain& d, Vcpu& v, evtchn_port_t port) {
    auto* s = d.shinfo();
    auto* vi = v.info();
    if (!s || !vi) return;
    if (test_and_set(&s->evtchn_pending[port / bits], port % bits)) return;
    if (__atomic_load_n(&s->evtchn_mask[port / bits], __ATOMIC_SEQ_CST) & (xen_ulong_t{1} << (port % bits)))
        return;
    if (test_and_set(&vi->evtchn_pending_sel, port / bits)) return;
    __atomic_store_n(&vi->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST);
    vcpu_notify(v);
}
} // namespace

void set_pending(Domain& d, evtchn_port_t port) {
    auto p = d.evtchns().get(port);
    if (!p || p->state == Port::State::free) return;
    Vcpu* v = d.vcpu(p->vcpu);
    if (!v) return;
    mark_pending(d, *v, port);
    // A vCPU in SCHEDOP_poll on this port wakes even if the port is masked.
    std::lock_guard g{v->timer_mu};
    if (!v->poll_ports.empty() && std::ranges::find(v->poll_ports, port) != v->poll_ports.end()) {
        v->poll_ports.clear();
        vcpu_notify(*v);
    }
}

void send_virq(Vcpu& v, std::uint32_t virq) {
    auto port = v.domain().evtchns().virq_port(v.id(), virq);
    if (port > 0) set_pending(v.domain(), static_cast<evtchn_port_t>(port));
}

XenResult<void> unmask(Domain& d, evtchn_port_t port) {
    auto p = d.evtchns().get(port);
    if (!p) return xen_fail(XenErr::inval);
    auto* s = d.shinfo();
    Vcpu* v = d.vcpu(p->vcpu);
    if (!s || !v || !v->info()) return {};
    auto* vi = v->info();
    // Xen's evtchn_2l_unmask: if it was pending while masked, deliver it now.
    auto mask = xen_ulong_t{1} << (port % bits);
    auto old = __atomic_fetch_and(&s->evtchn_mask[port / bits], ~mask, __ATOMIC_SEQ_CST);
    if ((old & mask) && (__atomic_load_n(&s->evtchn_pending[port / bits], __ATOMIC_SEQ_CST) & mask) &&
        !test_and_set(&vi->evtchn_pending_sel, port / bits)) {
        __atomic_store_n(&vi->evtchn_upcall_pending, 1, __ATOMIC_SEQ_CST);
        vcpu_notify(*v);
    }
    return {};
}

} // namespace kxen::hv::evtchn
