// evtchn-echo: the guest half of bench/evtchn_bench.cpp. Offers dom0 a port
// (alloc_unbound(0)), prints "evtchn-echo: port=<p>" and then sends an event back on
// every event it gets, for ever (or `count` times, then PASS). Each echo is one upcall
// and one EVTCHNOP_send, so dom0 can time notify -> upcall -> send -> its eventfd.
//
//   test=evtchn-echo [count=N] [spin_us=U] [peer=<domid>, default 0]
// spin_us: poll that long before blocking (evtchn::set_spin), to time the event path
// without the vCPU's halt and wake-up.
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../time.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {

void evtchn_echo() {
    need_xen();
    uint64_t count, spin_us, peer;
    if (!cmdline::get_u64("count", 0, &count)) fail("bad count=");
    if (!cmdline::get_u64("spin_us", 0, &spin_us)) fail("bad spin_us=");
    if (!cmdline::get_u64("peer", 0, &peer) || peer >= DOMID_FIRST_RESERVED) fail("bad peer=");
    evtchn::set_spin(spin_us * 1000);
    long port = evtchn::alloc_unbound(domid_t(peer));
    if (port < 0) fail("alloc_unbound(%lu): %ld", peer, port);
    evtchn_port_t const p = evtchn_port_t(port);
    console::println("evtchn-echo: port=%ld", port);
    // Far enough never to pass; kxend caps the timer it arms for it.
    uint64_t const forever = ~uint64_t(0) >> 2;
    for (uint64_t i = 0; count == 0 || i < count; ++i) {
        if (!evtchn::wait(p, forever)) fail("wait on port %u returned without an event", p);
        if (long rc = evtchn::send(p); rc < 0) fail("send %lu: %ld", i, rc);
    }
    console::println("evtchn-echo: %lu events echoed, %lu upcalls", count, evtchn::upcalls());
}

}  // namespace minios::tests
