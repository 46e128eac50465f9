#include "hv/evtchn/fifo.hpp"
#include "hv/domain/domain.hpp"
#include "hv/evtchn/port_ops.hpp"

namespace kxen::hv::evtchn {
namespace {
constexpr event_word_t bit(unsigned b) { return event_word_t{1} << b; }
bool test_and_set(event_word_t* w, unsigned b) { return __atomic_fetch_or(w, bit(b), __ATOMIC_SEQ_CST) & bit(b); }
bool test(event_word_t* w, unsigned b) { return __atomic_load_n(w, __ATOMIC_SEQ_CST) & bit(b); }
} // namespace

Fifo::Fifo(std::uint32_t nr_vcpus) {
    for (std::uint32_t i = 0; i < nr_vcpus; ++i) vcpus_.push_back(std::make_unique<PerVcpu>());
    lost_.assign(EVTCHN_FIFO_NR_CHANNELS, false);
    lastq_.assign(EVTCHN_FIFO_NR_CHANNELS, {0u, std::uint8_t{EVTCHN_FIFO_PRIORITY_DEFAULT}});
}

XenResult<void> Fifo::init_control(Domain& d, std::uint32_t vcpu, std::uint64_t gfn, std::uint32_t offset) {
    if (vcpu >= vcpus_.size()) return xen_fail(XenErr::inval);
    // public/event_channel.h: 8-byte aligned, and the block must fit in the page.
    if ((offset & 7) || offset > 4096 - sizeof(evtchn_fifo_control_block)) return xen_fail(XenErr::inval);
    if (gfn >= (1ull << 40)) return xen_fail(XenErr::inval);
    auto* p = d.gpa_ptr((gfn << 12) + offset, sizeof(evtchn_fifo_control_block));
    if (!p) return xen_fail(XenErr::inval);
    std::lock_guard g{mu_};
    if (vcpus_[vcpu]->cb) return xen_fail(XenErr::inval);   // once per vCPU, as Xen
    vcpus_[vcpu]->cb = reinterpret_cast<evtchn_fifo_control_block*>(p);
    d.hold_page(gfn);
    return {};
}

XenResult<void> Fifo::expand_array(Domain& d, std::uint64_t gfn) {
    if (gfn >= (1ull << 40)) return xen_fail(XenErr::inval);
    auto* p = d.gpa_ptr(gfn << 12, 4096);
    if (!p) return xen_fail(XenErr::inval);
    std::uint32_t first;
    {
        std::lock_guard g{mu_};
        auto n = nr_pages_.load();
        if (n >= max_pages) return xen_fail(XenErr::nospc);
        pages_[n] = reinterpret_cast<event_word_t*>(p);
        d.hold_page(gfn);
        nr_pages_ = n + 1;
        first = n * words_per_page;
    }
    // Events raised on these ports before they had a word are delivered now.
    for (std::uint32_t port = std::max(first, 1u); port < first + words_per_page; ++port) {
        {
            std::lock_guard g{mu_};
            if (!lost_[port]) continue;
            lost_[port] = false;
        }
        auto pt = d.evtchns().get(port);
        if (pt && d.vcpu(pt->vcpu)) set_pending(*d.vcpu(pt->vcpu), port, pt->priority);
    }
    return {};
}

event_word_t* Fifo::word(evtchn_port_t port) {
    if (port >= EVTCHN_FIFO_NR_CHANNELS) return nullptr;
    auto page = port / words_per_page;
    if (page >= nr_pages_.load()) return nullptr;
    return pages_[page].load() + port % words_per_page;
}

// Point the tail's LINK field at `port`, unless the guest already unlinked the tail.
bool Fifo::set_link(event_word_t* w, evtchn_port_t port) {
    event_word_t old = __atomic_load_n(w, __ATOMIC_SEQ_CST);
    while (true) {
        if (!(old & bit(EVTCHN_FIFO_LINKED))) return false;
        event_word_t neu = (old & ~event_word_t{EVTCHN_FIFO_LINK_MASK}) | port;
        if (__atomic_compare_exchange_n(w, &old, neu, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return true;
    }
}

void Fifo::set_pending(Vcpu& v, evtchn_port_t port, unsigned priority) {
    auto* w = word(port);
    if (!w) {
        std::lock_guard g{mu_};
        if (port < lost_.size()) lost_[port] = true;
        return;
    }
    test_and_set(w, EVTCHN_FIFO_PENDING);
    if (test(w, EVTCHN_FIFO_MASKED) || test(w, EVTCHN_FIFO_LINKED)) return;
    if (v.id() >= vcpus_.size() || priority > EVTCHN_FIFO_PRIORITY_MIN) return;
    auto& pv = *vcpus_[v.id()];
    if (!pv.cb) return;
    auto& q = pv.q[priority];
    bool linked = false;
    {
        std::lock_guard big{link_mu_};
        std::lock_guard g{q.lock};
        if (test_and_set(w, EVTCHN_FIFO_LINKED)) return;
        {   // Xen's old_q: a port that was its old queue's tail must not be linked to itself
            auto& last = lastq_[port];
            auto& oq = vcpus_[last.first]->q[last.second];
            if (oq.tail == port) oq.tail = 0;
            last = {v.id(), static_cast<std::uint8_t>(priority)};
        }
        if (q.tail == port) q.tail = 0;
        if (q.tail)
            if (auto* tw = word(q.tail)) linked = set_link(tw, port);
        if (!linked) __atomic_store_n(&pv.cb->head[priority], port, __ATOMIC_SEQ_CST);
        q.tail = port;
    }
    if (!linked && !(__atomic_fetch_or(&pv.cb->ready, 1u << priority, __ATOMIC_SEQ_CST) & (1u << priority)))
        mark_events_pending(v);
}

void Fifo::clear_masked(evtchn_port_t port) {
    if (auto* w = word(port)) __atomic_fetch_and(w, ~bit(EVTCHN_FIFO_MASKED), __ATOMIC_SEQ_CST);
}

void Fifo::clear_pending(evtchn_port_t port) {
    if (auto* w = word(port)) __atomic_fetch_and(w, ~bit(EVTCHN_FIFO_PENDING), __ATOMIC_SEQ_CST);
    std::lock_guard g{mu_};
    if (port < lost_.size()) lost_[port] = false;
}

bool Fifo::is_pending(evtchn_port_t port) {
    auto* w = word(port);
    return w && test(w, EVTCHN_FIFO_PENDING);
}

} // namespace kxen::hv::evtchn
