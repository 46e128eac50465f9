// evtchn-loop: a loopback interdomain channel within this domain (alloc_unbound(DOMID_SELF)
// + bind_interdomain(DOMID_SELF, port)), then `count` (10000) sends, alternating ends, each
// of which must be delivered exactly once, through an upcall. Then, with either ABI:
// mask/unmask of a pending port (the event must come at the unmask), EVTCHNOP_status of
// both ends, and close (the peer goes back to unbound). With evtchn=fifo also priorities:
// two channels at different priorities, both pending before ring 3 looks: the
// higher-priority one (lower number) must come first whatever the send order; at equal
// priority, first sent first served; and a port that changes queue while the tail of its
// old one (see requeue()). With 2l, EVTCHNOP_set_priority must fail.
// Keys: count=, timeout_ms= (per event, 5000), lenient=1 (report Xen-semantics deviations
// that minios can live with as "DEVIATION" lines instead of failing), bench=1 (first print
// what a ring-0 trap and two cheap hypercalls cost).
#include <initializer_list>  // freestanding: range-for over {...}

#include "../cmdline.hpp"
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../evtchn_fifo.hpp"
#include "../hypercall.hpp"
#include "../time.hpp"
#include "../x86.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

constinit bool lenient = false;

void deviation(bool ok, const char* what) {
    if (ok) return;
    if (!lenient) fail("%s", what);
    console::println("evtchn-loop: DEVIATION %s", what);
}

struct Pair {
    evtchn_port_t a, b;  // a: alloc_unbound's port; b: bound to it
};

Pair open_pair(uint64_t timeout) {
    long a = evtchn::alloc_unbound(DOMID_SELF);
    if (a < 0) fail("alloc_unbound(DOMID_SELF): %ld", a);
    long b = evtchn::bind_interdomain(DOMID_SELF, evtchn_port_t(a));
    if (b < 0) fail("bind_interdomain(DOMID_SELF, %ld): %ld", a, b);
    // public/event_channel.h: the local port is set pending after binding.
    if (!evtchn::wait(evtchn_port_t(b), time::now_ns() + timeout))
        fail("port %ld not pending after bind_interdomain (Xen sets it)", b);
    if (evtchn::take(evtchn_port_t(a))) fail("port %ld fired at bind_interdomain (only the binder's should)", a);
    return {evtchn_port_t(a), evtchn_port_t(b)};
}

void expect_status(evtchn_port_t port, uint32_t want, evtchn_port_t peer) {
    evtchn_status st{};
    st.dom = DOMID_SELF;
    st.port = port;
    long rc = xen::event_channel_op(EVTCHNOP_status, &st);
    if (rc < 0) fail("EVTCHNOP_status(%u): %ld", port, rc);
    if (st.status != want) fail("EVTCHNOP_status(%u) = %u, want %u", port, st.status, want);
    if (want == EVTCHNSTAT_interdomain && st.u.interdomain.port != peer)
        fail("EVTCHNOP_status(%u): peer port %u, want %u", port, st.u.interdomain.port, peer);
}

// Ensure nothing else arrives on the pair for `ns` (busy-wait: no timer needed).
void expect_quiet(Pair p, uint64_t ns, const char* when) {
    uint64_t end = time::now_ns() + ns;
    while (time::now_ns() < end) {
        if (evtchn::take(p.a) || evtchn::take(p.b)) fail("an extra event arrived %s", when);
        x86::pause();
    }
}

void loop(Pair p, uint64_t count, uint64_t timeout) {
    uint64_t const start = time::now_ns();
    uint64_t const u_start = evtchn::upcalls();
    uint64_t late_upcalls = 0;
    for (uint64_t i = 0; i < count; ++i) {
        evtchn_port_t from = (i & 1) ? p.a : p.b, to = (i & 1) ? p.b : p.a;
        uint64_t u0 = evtchn::upcalls();
        long rc = evtchn::send(from);
        if (rc < 0) fail("send %lu on port %u: %ld", i, from, rc);
        if (!evtchn::wait(to, time::now_ns() + timeout)) fail("send %lu on port %u: no event on port %u", i, from, to);
        if (evtchn::take(from)) fail("send %lu on port %u also raised the sender's port", i, from);
        if (evtchn::upcalls() == u0) {  // found by polling before its upcall came: wait for it
            ++late_upcalls;
            uint64_t end = time::now_ns() + timeout;
            while (evtchn::upcalls() == u0)
                if (time::now_ns() > end) fail("send %lu: event pending but no upcall", i);
        }
    }
    uint64_t const elapsed = time::now_ns() - start;
    expect_quiet(p, 20'000'000, "after the last send");
    console::println("evtchn-loop: %s: %lu sends, each delivered once, in %lu us (%lu ns each), %lu upcalls "
                     "(%lu after ring 3 had seen the event)",
                     evtchn::abi_name(), count, elapsed / 1000, elapsed / count, evtchn::upcalls() - u_start,
                     late_upcalls);
}

// Masked while the event comes: nothing; unmask: the event.
void mask_unmask(Pair p, uint64_t timeout) {
    evtchn::mask(p.a);
    if (long rc = evtchn::send(p.b); rc < 0) fail("send on %u: %ld", p.b, rc);
    uint64_t end = time::now_ns() + 10'000'000;
    while (time::now_ns() < end)
        if (evtchn::take(p.a)) fail("event on masked port %u delivered", p.a);
    unsigned const fallbacks = evtchn::abi() == evtchn::Abi::fifo ? evtchn::fifo::unmask_fallbacks() : 0;
    long rc = evtchn::unmask(p.a);
    if (rc < 0) fail("unmask %u: %ld", p.a, rc);
    bool got = evtchn::spin_wait(p.a, time::now_ns() + timeout);
    if (evtchn::abi() == evtchn::Abi::fifo)
        deviation(evtchn::fifo::unmask_fallbacks() == fallbacks,
                  "FIFO: EVTCHNOP_unmask of a pending port left MASKED set in its event word (Xen's "
                  "evtchn_fifo_unmask clears it, then links the event; Linux's clear_masked_cond relies on that)");
    if (!got) fail("event raised while port %u was masked not delivered at unmask", p.a);
    console::println("evtchn-loop: mask/unmask: the event raised while masked came at the unmask");
}

// Both pending before ring 3 looks; returns the order poll() delivered them in.
unsigned both_pending(Pair first, Pair second, evtchn_port_t* order, unsigned cap) {
    unsigned n = 0;
    evtchn::trace(order, cap, &n);
    // Ring 3 consumes only in poll(): the upcalls these sends raise just count.
    if (long rc = evtchn::send(first.b); rc < 0) fail("send %u: %ld", first.b, rc);
    if (long rc = evtchn::send(second.b); rc < 0) fail("send %u: %ld", second.b, rc);
    evtchn::poll();
    evtchn::trace(nullptr, 0, nullptr);
    // Clear the fired bits the trace left set.
    evtchn::take(first.a);
    evtchn::take(second.a);
    return n;
}

// A port that changes queue while it is the tail of its old one (Xen tracks the last
// queue, evtchn_fifo_set_pending's old_q): the old queue must not link later events
// behind it. y was the default queue's tail when moved to priority 0; then z (default)
// and v (priority 3) come while y is linked in queue 0. Expected: y, v, z.
void requeue(uint64_t timeout) {
    Pair y = open_pair(timeout), z = open_pair(timeout), v = open_pair(timeout);
    if (long rc = evtchn::set_priority(v.a, 3); rc < 0) fail("set_priority(%u, 3): %ld", v.a, rc);
    evtchn::send(y.b);  // y alone in the default queue: its tail
    if (!evtchn::spin_wait(y.a, time::now_ns() + timeout)) fail("requeue: no event on %u", y.a);
    if (long rc = evtchn::set_priority(y.a, EVTCHN_FIFO_PRIORITY_MAX); rc < 0) fail("set_priority(%u): %ld", y.a, rc);
    evtchn_port_t order[8];
    unsigned n = 0;
    evtchn::trace(order, 8, &n);
    evtchn::send(y.b);
    evtchn::send(z.b);
    evtchn::send(v.b);
    evtchn::poll();
    evtchn::trace(nullptr, 0, nullptr);
    for (Pair p : {y, z, v}) evtchn::take(p.a);
    if (n != 3 || order[0] != y.a || order[1] != v.a || order[2] != z.a)
        fail("requeue: port %u moved from priority %u to %u while the tail of its old queue, then %u (priority %u) "
             "and %u (priority 3) raised: got %u events: %u, %u, %u; want %u, %u, %u",
             y.a, EVTCHN_FIFO_PRIORITY_DEFAULT, EVTCHN_FIFO_PRIORITY_MAX, z.a, EVTCHN_FIFO_PRIORITY_DEFAULT, v.a, n,
             n > 0 ? order[0] : 0, n > 1 ? order[1] : 0, n > 2 ? order[2] : 0, y.a, v.a, z.a);
    console::println("evtchn-loop: fifo requeue: a port moved to another queue while the tail of its old one "
                     "leaves that queue intact");
    for (Pair p : {y, z, v}) {
        evtchn::close(p.a);
        evtchn::close(p.b);
    }
}

void priorities(uint64_t timeout) {
    Pair lo = open_pair(timeout), hi = open_pair(timeout);
    evtchn_port_t order[8];
    // Equal (default) priority: FIFO order.
    unsigned n = both_pending(lo, hi, order, 8);
    if (n != 2 || order[0] != lo.a || order[1] != hi.a)
        fail("equal priorities: sent %u then %u, got %u events: %u, %u", lo.a, hi.a, n, n > 0 ? order[0] : 0,
             n > 1 ? order[1] : 0);
    n = both_pending(hi, lo, order, 8);
    if (n != 2 || order[0] != hi.a || order[1] != lo.a)
        fail("equal priorities: sent %u then %u, got %u events: %u, %u", hi.a, lo.a, n, n > 0 ? order[0] : 0,
             n > 1 ? order[1] : 0);
    if (long rc = evtchn::set_priority(lo.a, EVTCHN_FIFO_PRIORITY_MIN); rc < 0) fail("set_priority(%u, min): %ld", lo.a, rc);
    if (long rc = evtchn::set_priority(hi.a, EVTCHN_FIFO_PRIORITY_MAX); rc < 0) fail("set_priority(%u, max): %ld", hi.a, rc);
    if (long rc = evtchn::set_priority(hi.a, EVTCHN_FIFO_PRIORITY_MIN + 1); rc != -XEN_EINVAL)
        fail("set_priority(%u, %u): %ld, want -EINVAL", hi.a, EVTCHN_FIFO_PRIORITY_MIN + 1, rc);
    for (int round = 0; round < 2; ++round) {
        n = round ? both_pending(hi, lo, order, 8) : both_pending(lo, hi, order, 8);
        if (n != 2 || order[0] != hi.a || order[1] != lo.a)
            fail("priority %u (port %u) and %u (port %u), sent %s first: got %u events: %u, %u",
                 EVTCHN_FIFO_PRIORITY_MAX, hi.a, EVTCHN_FIFO_PRIORITY_MIN, lo.a, round ? "high" : "low", n,
                 n > 0 ? order[0] : 0, n > 1 ? order[1] : 0);
    }
    // A stream at both priorities: every high one before any low one still queued.
    for (int i = 0; i < 3; ++i) {
        unsigned k = 0;
        evtchn_port_t seq[8];
        evtchn::trace(seq, 8, &k);
        evtchn::send(lo.b);
        evtchn::send(hi.b);
        evtchn::poll();
        evtchn::trace(nullptr, 0, nullptr);
        evtchn::take(lo.a);
        evtchn::take(hi.a);
        if (k != 2 || seq[0] != hi.a) fail("priority round %d: first event %u, want %u", i, k ? seq[0] : 0, hi.a);
    }
    console::println("evtchn-loop: fifo priorities: priority %u before %u regardless of send order; equal "
                     "priorities in send order",
                     EVTCHN_FIFO_PRIORITY_MAX, EVTCHN_FIFO_PRIORITY_MIN);
    requeue(timeout);
    for (Pair p : {lo, hi}) {
        evtchn::close(p.a);
        evtchn::close(p.b);
    }
}

uint64_t noop_ring0(uint64_t, uint64_t, uint64_t, uint64_t) { return 0; }

// What the loop's parts cost here: a trap to ring 0 and back, and two cheap hypercalls.
void costs() {
    constexpr int kN = 1000;
    uint64_t t0 = time::now_ns();
    for (int i = 0; i < kN; ++i) sys::ring0(noop_ring0);
    uint64_t t1 = time::now_ns();
    for (int i = 0; i < kN; ++i) xen::xen_version(XENVER_version, nullptr);
    uint64_t t2 = time::now_ns();
    evtchn_status st{};
    for (int i = 0; i < kN; ++i) {
        st.dom = DOMID_SELF;
        st.port = 1;
        xen::event_channel_op(EVTCHNOP_status, &st);
    }
    uint64_t t3 = time::now_ns();
    console::println("evtchn-loop: costs: ring-0 trap %lu ns, xen_version %lu ns, EVTCHNOP_status %lu ns",
                     (t1 - t0) / kN, (t2 - t1) / kN, (t3 - t2) / kN);
}

}  // namespace

void evtchn_loop() {
    need_xen();
    uint64_t const count = get_count(10000);
    uint64_t const timeout = timeout_ns(5000);
    uint64_t len;
    lenient = cmdline::get_u64("lenient", 0, &len) && len;
    if (evtchn::abi() == evtchn::Abi::fifo)
        deviation(evtchn::fifo::words_unmasked_by_expand() == 0,
                  "FIFO: EVTCHNOP_expand_array cleared MASKED in the new event-array page (Xen never writes "
                  "the page; guests initialise it, all masked)");

    if (cmdline::get_u64("bench", 0, &len) && len) costs();
    Pair p = open_pair(timeout);
    console::println("evtchn-loop: %s ABI, loopback ports %u <-> %u", evtchn::abi_name(), p.a, p.b);
    expect_status(p.a, EVTCHNSTAT_interdomain, p.b);
    expect_status(p.b, EVTCHNSTAT_interdomain, p.a);
    loop(p, count, timeout);
    mask_unmask(p, timeout);

    if (evtchn::abi() == evtchn::Abi::fifo) priorities(timeout);
    else if (long rc = evtchn::set_priority(p.a, 0); rc >= 0) fail("2-level ABI: set_priority succeeded");

    // Closing one end puts the other back to unbound (Xen's evtchn_close).
    if (long rc = evtchn::close(p.a); rc < 0) fail("close %u: %ld", p.a, rc);
    expect_status(p.b, EVTCHNSTAT_unbound, 0);
    if (long rc = evtchn::send(p.b); rc < 0) fail("send on %u, unbound again: %ld (Xen drops it, returns 0)", p.b, rc);
    if (long rc = evtchn::close(p.b); rc < 0) fail("close %u: %ld", p.b, rc);
    if (long rc = evtchn::send(p.b); rc != -XEN_EINVAL) fail("send on closed port %u: %ld, want -EINVAL", p.b, rc);
    if (uint64_t n = evtchn::upcalls_with_if_clear()) fail("%lu upcalls were injected while interrupts were disabled", n);
}

}  // namespace minios::tests
