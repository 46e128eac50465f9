#include "hv/evtchn/evtchn.hpp"
#include <unistd.h>
#include <algorithm>
#include "hv/domain/domain.hpp"
#include "hv/evtchn/port_ops.hpp"
#include "hv/hv.hpp"

namespace kxen::hv::evtchn {

using S = Port::State;

std::uint32_t Table::max_ports() const {
    // dom0's processes deliver through eventfds, not a shared_info bitmap: no 2-level limit
    // (on Xen, a dom0 kernel with the FIFO ABI has the same reach).
    if ((!dom_ && domid_ == 0) || (dom_ && dom_->fifo())) return EVTCHN_FIFO_NR_CHANNELS;
    return dom_ ? nr_ports_2l_of(*dom_) : nr_ports_2l;
}

XenResult<evtchn_port_t> Table::alloc_locked() {
    for (std::size_t p = 1; p < ports_.size(); ++p)
        if (ports_[p].state == S::free) return static_cast<evtchn_port_t>(p);
    if (ports_.size() >= max_ports()) return xen_fail(XenErr::nospc);
    ports_.emplace_back();
    return static_cast<evtchn_port_t>(ports_.size() - 1);
}

Port* Table::port_locked(evtchn_port_t p) {
    if (p == 0 || p >= ports_.size()) return nullptr;
    return &ports_[p];
}

XenResult<evtchn_port_t> Table::alloc_unbound(std::uint16_t remote_dom) {
    std::lock_guard g{mu_};
    auto p = alloc_locked();
    if (!p) return p;
    ports_[*p] = Port{S::unbound, 0, 0, remote_dom, 0};
    return p;
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
    ports_[*p] = Port{S::virq, vcpu, virq, 0, 0};
    row[virq] = *p;
    return p;
}

XenResult<evtchn_port_t> Table::bind_ipi(std::uint32_t vcpu, std::uint32_t nr_vcpus) {
    if (vcpu >= nr_vcpus) return xen_fail(XenErr::noent);
    std::lock_guard g{mu_};
    auto p = alloc_locked();
    if (!p) return p;
    ports_[*p] = Port{S::ipi, vcpu, 0, 0, 0};
    return p;
}

XenResult<Port> Table::get(evtchn_port_t port) const {
    std::lock_guard g{mu_};
    if (port == 0 || port >= ports_.size()) return xen_fail(XenErr::inval);
    return ports_[port];
}

XenResult<void> Table::bind_vcpu(evtchn_port_t port, std::uint32_t vcpu, std::uint32_t nr_vcpus) {
    if (vcpu >= nr_vcpus) return xen_fail(XenErr::noent);
    std::lock_guard g{mu_};
    auto* p = port_locked(port);
    if (!p) return xen_fail(XenErr::inval);
    // Xen: per-vCPU VIRQs and IPIs stay on their vCPU; unbound and interdomain ones move.
    if (p->state != S::unbound && p->state != S::interdomain) return xen_fail(XenErr::inval);
    p->vcpu = vcpu;
    return {};
}

XenResult<void> Table::set_priority(evtchn_port_t port, std::uint32_t priority) {
    if (priority > EVTCHN_FIFO_PRIORITY_MIN) return xen_fail(XenErr::inval);
    std::lock_guard g{mu_};
    auto* p = port_locked(port);
    if (!p || p->state == S::free) return xen_fail(XenErr::inval);
    p->priority = static_cast<std::uint8_t>(priority);
    return {};
}

std::int64_t Table::virq_port(std::uint32_t vcpu, std::uint32_t virq) const {
    std::lock_guard g{mu_};
    if (vcpu >= virq_.size() || virq_[vcpu].empty() || virq >= NR_VIRQS) return -1;
    return virq_[vcpu][virq];
}

void Table::notify_dom0(evtchn_port_t port) {
    std::lock_guard g{mu_};
    auto* p = port_locked(port);
    if (!p || p->notify_fd < 0) return;
    std::uint64_t one = 1;
    (void)!::write(p->notify_fd, &one, sizeof one);   // nonblocking eventfd: never stalls a vCPU
}

void Table::set_notify(evtchn_port_t port, int fd, std::uint64_t owner) {
    std::lock_guard g{mu_};
    if (auto* p = port_locked(port)) {
        p->notify_fd = fd;
        p->owner = owner;
    }
}

std::vector<evtchn_port_t> Table::ports_of(std::uint64_t owner) const {
    std::lock_guard g{mu_};
    std::vector<evtchn_port_t> v;
    for (std::size_t p = 1; p < ports_.size(); ++p)
        if (ports_[p].state != S::free && ports_[p].owner == owner) v.push_back(static_cast<evtchn_port_t>(p));
    return v;
}

std::vector<evtchn_port_t> Table::open_ports() const {
    std::lock_guard g{mu_};
    std::vector<evtchn_port_t> v;
    for (std::size_t p = 1; p < ports_.size(); ++p)
        if (ports_[p].state != S::free) v.push_back(static_cast<evtchn_port_t>(p));
    return v;
}

XenResult<evtchn_port_t> bind_interdomain(Table& local, Table& remote, evtchn_port_t remote_port) {
    // Lock both in a fixed order (Xen's double_evtchn_lock); a loopback binds within one table.
    std::unique_lock<std::mutex> a, b;
    if (&local == &remote) {
        a = std::unique_lock{local.mu_};
    } else {
        std::scoped_lock both{local.mu_, remote.mu_};   // deadlock-free acquisition
        a = std::unique_lock{local.mu_, std::adopt_lock};
        b = std::unique_lock{remote.mu_, std::adopt_lock};
    }
    auto* rp = remote.port_locked(remote_port);
    if (!rp || rp->state != S::unbound) return xen_fail(XenErr::inval);
    if (rp->remote_dom != local.domid()) return xen_fail(XenErr::inval);
    auto lp = local.alloc_locked();
    if (!lp) return lp;
    rp = remote.port_locked(remote_port);   // alloc may have grown local == remote
    local.ports_[*lp] = Port{S::interdomain, 0, 0, remote.domid(), remote_port};
    rp->state = S::interdomain;
    rp->remote_dom = local.domid();
    rp->remote_port = *lp;
    return lp;
}

namespace {
// The table of domain `id`, kept alive by `keep` (dom0's lives in Hv).
Table* table_of(Hv& hv, std::uint16_t id, std::shared_ptr<Domain>& keep) {
    if (id == 0) return &hv.dom0_evtchns();
    keep = hv.lookup(id);
    return keep ? &keep->evtchns() : nullptr;
}
} // namespace

XenResult<Port> Table::close_local(evtchn_port_t port) {
    std::lock_guard g{mu_};
    auto* p = port_locked(port);
    if (!p || p->state == S::free) return xen_fail(XenErr::inval);
    Port old = *p;
    if (p->state == S::virq && p->vcpu < virq_.size() && !virq_[p->vcpu].empty()) virq_[p->vcpu][p->virq] = -1;
    *p = Port{};
    return old;
}

// The peer of a closed interdomain port goes back to unbound, bindable by the same domain.
void unbind_peer(Table& r, std::uint16_t closer, evtchn_port_t closed_port) {
    std::lock_guard g{r.mu_};
    for (std::size_t i = 1; i < r.ports_.size(); ++i) {
        auto& rp = r.ports_[i];
        if (rp.state == S::interdomain && rp.remote_dom == closer && rp.remote_port == closed_port) {
            rp.state = S::unbound;
            rp.remote_port = 0;
        }
    }
}

XenResult<void> close(Hv& hv, Table& t, evtchn_port_t port) {
    auto old = t.close_local(port);
    if (!old) return xen_fail(old.error());
    if (old->state == S::interdomain) {
        std::shared_ptr<Domain> keep;
        if (Table* r = table_of(hv, old->remote_dom, keep)) unbind_peer(*r, t.domid(), port);
    }
    if (t.domain()) clear_pending(*t.domain(), port);
    return {};
}

void close_all(Hv& hv, Table& t) {
    for (auto p : t.open_ports()) (void)close(hv, t, p);
}

XenResult<void> send(Hv& hv, Table& t, evtchn_port_t port) {
    auto p = t.get(port);
    if (!p) return xen_fail(p.error());
    switch (p->state) {
    case S::interdomain: {
        std::shared_ptr<Domain> keep;
        if (Table* r = table_of(hv, p->remote_dom, keep)) set_pending(*r, p->remote_port);
        return {};
    }
    case S::ipi: set_pending(t, port); return {};
    case S::unbound: return {};   // Xen drops it silently
    case S::virq: return {};      // virq ports ignore sends
    default: return xen_fail(XenErr::inval);
    }
}

void set_pending(Table& t, evtchn_port_t port) {
    auto p = t.get(port);
    if (!p || p->state == S::free) return;
    if (!t.domain()) {
        t.notify_dom0(port);
        return;
    }
    Domain& d = *t.domain();
    Vcpu* v = d.vcpu(p->vcpu);
    if (!v) return;
    deliver(d, *v, port, p->priority);
    // A vCPU in SCHEDOP_poll on this port wakes even if the port is masked.
    wake_poller(*v, port);
}

void send_virq(Vcpu& v, std::uint32_t virq) {
    auto port = v.domain().evtchns().virq_port(v.id(), virq);
    if (port > 0) set_pending(v.domain().evtchns(), static_cast<evtchn_port_t>(port));
}

} // namespace kxen::hv::evtchn
