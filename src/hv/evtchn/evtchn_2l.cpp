// The 2-level ABI (Xen's event_2l.c): pending and mask bitmaps in shared_info, one selector
// word per vCPU.
#include <algorithm>
#include <mutex>
#include <cstddef>
#include "hv/compat/layout.h"
#include "hv/domain/domain.hpp"
#include "hv/evtchn/fifo.hpp"
#include "hv/evtchn/port_ops.hpp"
#include "hv/sched/vcpu_timer.hpp"

namespace kxen::hv::evtchn {
namespace {

// Where the 2-level bitmaps live: shared_info and vcpu_info differ between a 64-bit guest and
// a 32-bit one (Xen's has_32bit_shinfo). The bitmaps are little-endian, so port p is bit p%8
// of byte p/8 from the bitmap's start in either layout; what differs is where each bitmap
// starts, how many ports fit, and how many ports one selector bit stands for.
struct Layout {
    std::size_t pending, mask, sel;   // byte offsets: two in shared_info, one in vcpu_info
    unsigned word_bits;               // ports per selector bit
    std::uint32_t nr_ports;
};
constexpr Layout native_layout{offsetof(shared_info, evtchn_pending), offsetof(shared_info, evtchn_mask),
                               offsetof(vcpu_info, evtchn_pending_sel), sizeof(xen_ulong_t) * 8, nr_ports_2l};
constexpr Layout compat_layout{KXEN_COMPAT_EVTCHN_PENDING_OFFSET, KXEN_COMPAT_EVTCHN_MASK_OFFSET,
                               offsetof(compat_vcpu_info_head, evtchn_pending_sel), 32, KXEN_COMPAT_NR_EVTCHN_2L};

Layout const& layout(Domain const& d) { return d.shinfo_compat() ? compat_layout : native_layout; }

std::uint8_t* byte_of(void* base, std::size_t off, unsigned bit) {
    return reinterpret_cast<std::uint8_t*>(base) + off + bit / 8;
}
// The guest updates the same words with locked instructions; so must we (a locked byte
// operation is atomic against a locked word operation that covers it).
bool test_and_set(void* base, std::size_t off, unsigned bit) {
    auto m = static_cast<std::uint8_t>(1u << (bit % 8));
    return __atomic_fetch_or(byte_of(base, off, bit), m, __ATOMIC_SEQ_CST) & m;
}
bool test_and_clear(void* base, std::size_t off, unsigned bit) {
    auto m = static_cast<std::uint8_t>(1u << (bit % 8));
    return __atomic_fetch_and(byte_of(base, off, bit), static_cast<std::uint8_t>(~m), __ATOMIC_SEQ_CST) & m;
}
bool test(void* base, std::size_t off, unsigned bit) {
    return __atomic_load_n(byte_of(base, off, bit), __ATOMIC_SEQ_CST) & (1u << (bit % 8));
}
} // namespace

std::uint32_t nr_ports_2l_of(Domain const& d) { return layout(d).nr_ports; }

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
    auto const& l = layout(d);
    if (!s || !vi || port >= l.nr_ports) return;
    if (test_and_set(s, l.pending, port)) return;
    if (test(s, l.mask, port)) return;
    if (test_and_set(vi, l.sel, port / l.word_bits)) return;
    mark_events_pending(v);
}

void clear_pending(Domain& d, evtchn_port_t port) {
    auto const& l = layout(d);
    if (auto* s = d.shinfo(); s && port < l.nr_ports) (void)test_and_clear(s, l.pending, port);
}

bool is_pending(Domain& d, evtchn_port_t port) {
    auto* s = d.shinfo();
    auto const& l = layout(d);
    return s && port < l.nr_ports && test(s, l.pending, port);
}

XenResult<void> unmask(Domain& d, Vcpu& v, evtchn_port_t port) {
    auto* s = d.shinfo();
    auto* vi = v.info();
    auto const& l = layout(d);
    if (!s || !vi || port >= l.nr_ports) return {};
    // Xen's evtchn_2l_unmask: if it was pending while masked, deliver it now.
    if (test_and_clear(s, l.mask, port) && test(s, l.pending, port) &&
        !test_and_set(vi, l.sel, port / l.word_bits))
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
