#include "evtchn.hpp"

#include "abi.h"
#include "evtchn_fifo.hpp"
#include "hypercall.hpp"
#include "sched.hpp"
#include "shared_info.hpp"
#include "time.hpp"

// Written only by entry.S's upcall (ring 0, IF=0); extern "C" (evtchn.hpp).
constinit volatile uint64_t evtchn_upcall_count = 0;
constinit volatile uint64_t evtchn_upcall_if_clear = 0;

namespace minios::evtchn {
namespace {

constexpr unsigned kWords = kMaxPorts / 64;
constinit volatile uint64_t fired[kWords]{};

constinit uint64_t spin_ns = 0;
constinit evtchn_port_t* trace_buf = nullptr;
constinit unsigned trace_cap = 0;
constinit unsigned* trace_n = nullptr;

// 2-level consumption, in ring 3. The upcall already cleared evtchn_upcall_pending, so
// (as public/xen.h asks) the selector is read after it; pending bits are cleared a word
// at a time.
void poll_2l() {
    volatile shared_info_t* s = shared_info::get();
    uint64_t sel = x86::xchg(&s->vcpu_info[0].evtchn_pending_sel, 0);
    while (sel) {
        unsigned w = x86::bsf(sel);
        sel &= sel - 1;
        uint64_t bits = s->evtchn_pending[w] & ~s->evtchn_mask[w];
        if (!bits) continue;
        x86::lock_and(&s->evtchn_pending[w], ~bits);
        if (trace_buf) {
            for (uint64_t b = bits; b; b &= b - 1) deliver(evtchn_port_t(w * 64 + x86::bsf(b)));
        } else {
            x86::lock_or(&fired[w], bits);
        }
    }
}

// A port just bound: in FIFO mode give it an event word and unmask it; 2-level ports are
// unmasked already unless a previous user of the number masked it.
long bound(long rc, evtchn_port_t port) {
    if (rc < 0) return rc;
    if (!fifo::active()) {
        bool masked = port < kMaxPorts && (shared_info::get()->evtchn_mask[port / 64] >> (port % 64)) & 1;
        if (masked && (rc = unmask(port)) < 0) return rc;
        return long(port);
    }
    long r = fifo::ensure(port);
    if (r < 0) return r;
    r = fifo::unmask(port);
    return r < 0 ? r : long(port);
}

}  // namespace

long init() {
    xen_hvm_param p{};
    p.domid = DOMID_SELF;
    p.index = HVM_PARAM_CALLBACK_IRQ;
    p.value = (uint64_t{HVM_PARAM_CALLBACK_TYPE_VECTOR} << 56) | VEC_UPCALL;
    shared_info::get()->vcpu_info[0].evtchn_upcall_mask = 0;
    return xen::hvm_op(HVMOP_set_param, &p);
}

long resume() {
    for (auto& w : fired) w = 0;
    long rc = init();
    if (rc < 0) return rc;
    return fifo::resume();
}

long use_fifo() { return fifo::init(); }
Abi abi() { return fifo::active() ? Abi::fifo : Abi::two_level; }
const char* abi_name() { return fifo::active() ? "fifo" : "2l"; }

long bind_virq(uint32_t virq, uint32_t vcpu) {
    evtchn_bind_virq op{};
    op.virq = virq;
    op.vcpu = vcpu;
    long rc = xen::event_channel_op(EVTCHNOP_bind_virq, &op);
    return bound(rc, op.port);
}

long alloc_unbound(domid_t remote_dom) {
    evtchn_alloc_unbound op{};
    op.dom = DOMID_SELF;
    op.remote_dom = remote_dom;
    long rc = xen::event_channel_op(EVTCHNOP_alloc_unbound, &op);
    return bound(rc, op.port);
}

long bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port) {
    evtchn_bind_interdomain op{};
    op.remote_dom = remote_dom;
    op.remote_port = remote_port;
    long rc = xen::event_channel_op(EVTCHNOP_bind_interdomain, &op);
    return bound(rc, op.local_port);
}

long send(evtchn_port_t port) {
    evtchn_send op{};
    op.port = port;
    return xen::event_channel_op(EVTCHNOP_send, &op);
}

long close(evtchn_port_t port) {
    evtchn_close op{};
    op.port = port;
    long rc = xen::event_channel_op(EVTCHNOP_close, &op);
    if (rc == 0) {
        if (fifo::active()) fifo::mask(port);  // as Linux: a freed port stays masked
        if (port < kMaxPorts) x86::lock_btr(&fired[port / 64], port % 64);
    }
    return rc;
}

long unmask(evtchn_port_t port) {
    if (fifo::active()) return fifo::unmask(port);
    // 2-level: Xen clears the mask bit itself, and delivers the event if it was pending
    // meanwhile (clearing it here first would lose that event).
    evtchn_unmask op{};
    op.port = port;
    return xen::event_channel_op(EVTCHNOP_unmask, &op);
}

void mask(evtchn_port_t port) {
    if (fifo::active()) fifo::mask(port);
    else if (port < kMaxPorts) x86::lock_or(&shared_info::get()->evtchn_mask[port / 64], uint64_t{1} << (port % 64));
}

long adopt(evtchn_port_t port) {
    if (port == 0 || port >= kMaxPorts) return -XEN_EINVAL;
    if (fifo::active()) {
        long rc = fifo::ensure(port);
        if (rc < 0) return rc;
    }
    mask(port);
    return 0;
}

long set_priority(evtchn_port_t port, uint32_t priority) {
    evtchn_set_priority op{};
    op.port = port;
    op.priority = priority;
    return xen::event_channel_op(EVTCHNOP_set_priority, &op);
}

long self_domid() {
    long port = alloc_unbound(DOMID_SELF);
    if (port < 0) return port;
    evtchn_status st{};
    st.dom = DOMID_SELF;
    st.port = evtchn_port_t(port);
    long rc = xen::event_channel_op(EVTCHNOP_status, &st);
    close(evtchn_port_t(port));
    if (rc < 0) return rc;
    if (st.status != EVTCHNSTAT_unbound) return -XEN_EIO;
    return long(st.u.unbound.dom);
}

void deliver(evtchn_port_t port) {
    if (port >= kMaxPorts) return;
    if (trace_buf && *trace_n < trace_cap) trace_buf[(*trace_n)++] = port;
    x86::lock_or(&fired[port / 64], uint64_t{1} << (port % 64));
}

void set_spin(uint64_t ns) { spin_ns = ns; }

void trace(evtchn_port_t* buf, unsigned cap, unsigned* n) {
    trace_buf = buf;
    trace_cap = cap;
    trace_n = n;
}

void poll() {
    if (fifo::active()) fifo::poll();
    else poll_2l();
}

bool take(evtchn_port_t port) {
    if (port >= kMaxPorts) return false;
    poll();
    return x86::lock_btr(&fired[port / 64], port % 64);
}

bool wait(evtchn_port_t port, uint64_t deadline_ns) {
    if (spin_ns) {
        uint64_t end = time::now_ns() + spin_ns;
        do {
            if (take(port)) return true;
            x86::pause();
        } while (time::now_ns() < end);
    }
    for (;;) {
        uint64_t seen = evtchn_upcall_count;
        if (take(port)) return true;
        if (time::now_ns() >= deadline_ns) return false;
        sched::timer_by(deadline_ns);
        sched::block_since(seen);
    }
}

bool spin_wait(evtchn_port_t port, uint64_t deadline_ns) {
    for (;;) {
        if (take(port)) return true;
        if (time::now_ns() >= deadline_ns) return false;
        x86::pause();
    }
}

uint64_t upcalls() { return evtchn_upcall_count; }
uint64_t upcalls_with_if_clear() { return evtchn_upcall_if_clear; }

}  // namespace minios::evtchn
