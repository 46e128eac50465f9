// evtchn-hostile: event-channel operations a hostile guest might try. Each must return an
// error; PASS if all did and, afterwards, events still reach us (checked by busy-polling,
// so that broken delivery fails the test instead of hanging it). Checked after each group
// that could have switched our ABI by mistake (a failed EVTCHNOP_init_control must leave
// a 2-level guest 2-level). Most meaningful with the default evtchn=2l: under fifo,
// init_control for vCPU 0 fails anyway (already initialised). Keys: verbose=1.
#include <initializer_list>  // freestanding: range-for over {...}

#include "../boot_info.hpp"
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../hypercall.hpp"
#include "../time.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

alignas(4096) constinit uint8_t scratch_page[4096]{};
constexpr domid_t kNoSuchDomain = 0x7fe0;
constinit unsigned checks = 0;
constinit bool loud = false;

uint64_t gfn_of(const void* p) { return uint64_t(p) >> 12; }

void expect_error(const char* what, long rc) {
    ++checks;
    if (loud) console::println("evtchn-hostile: %s -> %ld", what, rc);
    if (rc >= 0) fail("%s succeeded (%ld)", what, rc);
}

long op(int cmd, void* arg) { return xen::event_channel_op(cmd, arg); }

long bind_interdomain(domid_t dom, evtchn_port_t port) {
    evtchn_bind_interdomain b{};
    b.remote_dom = dom;
    b.remote_port = port;
    long rc = op(EVTCHNOP_bind_interdomain, &b);
    return rc < 0 ? rc : long(b.local_port);
}

// A fresh loopback pair still delivers, and so does the timer.
void still_delivering(const char* after) {
    long a = evtchn::alloc_unbound(DOMID_SELF);
    if (a < 0) fail("after %s: alloc_unbound: %ld", after, a);
    long b = evtchn::bind_interdomain(DOMID_SELF, evtchn_port_t(a));
    if (b < 0) fail("after %s: bind_interdomain: %ld", after, b);
    uint64_t const t = 2'000'000'000;
    if (!evtchn::spin_wait(evtchn_port_t(b), time::now_ns() + t))
        fail("after %s: bind_interdomain did not raise the new port (ABI %s; events lost?)", after, evtchn::abi_name());
    if (long rc = evtchn::send(evtchn_port_t(b)); rc < 0) fail("after %s: send: %ld", after, rc);
    if (!evtchn::spin_wait(evtchn_port_t(a), time::now_ns() + t))
        fail("after %s: a loopback send was not delivered (ABI %s)", after, evtchn::abi_name());
    evtchn::close(evtchn_port_t(a));
    evtchn::close(evtchn_port_t(b));
    long tp = timer_port();
    if (tp > 0) {
        sched::set_timer(time::now_ns() + 1'000'000);
        if (!evtchn::spin_wait(evtchn_port_t(tp), time::now_ns() + t))
            fail("after %s: the timer VIRQ was not delivered (ABI %s)", after, evtchn::abi_name());
    }
}

void binds() {
    expect_error("bind_interdomain to port 99999 of ourselves", bind_interdomain(DOMID_SELF, 99999));
    expect_error("bind_interdomain to port 0x7fffffff of ourselves", bind_interdomain(DOMID_SELF, 0x7fffffff));
    expect_error("bind_interdomain to port 0 of ourselves", bind_interdomain(DOMID_SELF, 0));
    expect_error("bind_interdomain to a domain that does not exist", bind_interdomain(kNoSuchDomain, 1));
    expect_error("bind_interdomain to DOMID_IO", bind_interdomain(DOMID_IO, 1));
    expect_error("bind_interdomain to DOMID_XEN", bind_interdomain(DOMID_XEN, 1));
    expect_error("bind_interdomain to DOMID_INVALID", bind_interdomain(DOMID_INVALID, 1));
    if (long tp = timer_port(); tp > 0)
        expect_error("bind_interdomain to our VIRQ_TIMER port", bind_interdomain(DOMID_SELF, evtchn_port_t(tp)));
    // A port offered to somebody else.
    long other = evtchn::alloc_unbound(kNoSuchDomain);
    if (other < 0) fail("alloc_unbound(0x%x): %ld", kNoSuchDomain, other);
    expect_error("bind_interdomain to a port offered to another domain",
                 bind_interdomain(DOMID_SELF, evtchn_port_t(other)));
    // A port bound once is not unbound any more.
    long a = evtchn::alloc_unbound(DOMID_SELF);
    if (a < 0) fail("alloc_unbound(DOMID_SELF): %ld", a);
    long b = evtchn::bind_interdomain(DOMID_SELF, evtchn_port_t(a));
    if (b < 0) fail("bind_interdomain(DOMID_SELF, %ld): %ld", a, b);
    expect_error("bind_interdomain twice to the same port", bind_interdomain(DOMID_SELF, evtchn_port_t(a)));
    expect_error("bind_interdomain to the binding end of a pair", bind_interdomain(DOMID_SELF, evtchn_port_t(b)));
    evtchn::close(evtchn_port_t(a));
    evtchn::close(evtchn_port_t(b));
    evtchn::close(evtchn_port_t(other));

    evtchn_alloc_unbound au{};
    au.dom = kNoSuchDomain;
    au.remote_dom = DOMID_SELF;
    expect_error("alloc_unbound in another domain's table", op(EVTCHNOP_alloc_unbound, &au));

    for (uint32_t virq : {uint32_t(NR_VIRQS), 99u, 0xffffffffu}) {
        evtchn_bind_virq bv{};
        bv.virq = virq;
        bv.vcpu = 0;
        expect_error("bind_virq with a bad virq", op(EVTCHNOP_bind_virq, &bv));
    }
    for (uint32_t vcpu : {1u, 64u, 0xffffffffu}) {
        evtchn_bind_virq bv{};
        bv.virq = VIRQ_DEBUG;
        bv.vcpu = vcpu;
        expect_error("bind_virq on a vCPU we do not have", op(EVTCHNOP_bind_virq, &bv));
    }
    evtchn_bind_virq bv{};
    bv.virq = VIRQ_TIMER;
    bv.vcpu = 0;
    expect_error("bind_virq VIRQ_TIMER twice", op(EVTCHNOP_bind_virq, &bv));
    evtchn_bind_ipi bi{};
    bi.vcpu = 7;
    expect_error("bind_ipi to a vCPU we do not have", op(EVTCHNOP_bind_ipi, &bi));
    evtchn_bind_vcpu bc{};
    bc.port = 99999;
    bc.vcpu = 0;
    expect_error("bind_vcpu of port 99999", op(EVTCHNOP_bind_vcpu, &bc));
    if (long tp = timer_port(); tp > 0) {
        bc.port = evtchn_port_t(tp);
        bc.vcpu = 5;
        expect_error("bind_vcpu to a vCPU we do not have", op(EVTCHNOP_bind_vcpu, &bc));
    }
}

void ports() {
    long a = evtchn::alloc_unbound(DOMID_SELF);
    if (a < 0) fail("alloc_unbound: %ld", a);
    if (long rc = evtchn::close(evtchn_port_t(a)); rc < 0) fail("close %ld: %ld", a, rc);
    expect_error("send on a closed port", evtchn::send(evtchn_port_t(a)));
    expect_error("close a closed port", evtchn::close(evtchn_port_t(a)));
    expect_error("send on port 0", evtchn::send(0));
    expect_error("send on port 99999", evtchn::send(99999));
    expect_error("send on port 0xffffffff", evtchn::send(0xffffffff));
    expect_error("close port 0", evtchn::close(0));
    expect_error("close port 99999", evtchn::close(99999));
    expect_error("close port 0xffffffff", evtchn::close(0xffffffff));
    evtchn_unmask um{};
    for (evtchn_port_t p : {99999u, uint32_t(EVTCHN_FIFO_NR_CHANNELS), 0xffffffffu}) {
        um.port = p;
        expect_error("unmask a port out of range", op(EVTCHNOP_unmask, &um));
    }
    evtchn_status st{};
    st.dom = DOMID_SELF;
    st.port = 99999;
    expect_error("status of port 99999", op(EVTCHNOP_status, &st));
    st.dom = kNoSuchDomain;
    st.port = 1;
    expect_error("status of another domain's port", op(EVTCHNOP_status, &st));
    evtchn_reset rs{};
    rs.dom = kNoSuchDomain;
    expect_error("reset of another domain", op(EVTCHNOP_reset, &rs));
    evtchn_set_priority sp{};
    sp.port = 99999;
    sp.priority = 0;
    expect_error("set_priority of port 99999", op(EVTCHNOP_set_priority, &sp));
    if (long tp = timer_port(); tp > 0) {
        sp.port = evtchn_port_t(tp);
        sp.priority = EVTCHN_FIFO_PRIORITY_MIN + 1;
        expect_error("set_priority 16", op(EVTCHNOP_set_priority, &sp));
    }
    expect_error("EVTCHNOP 99", op(99, &st));
    expect_error("EVTCHNOP_bind_pirq from a PVH guest without PIRQs", [] {
        evtchn_bind_pirq bp{};
        bp.pirq = 5;
        return op(EVTCHNOP_bind_pirq, &bp);
    }());
}

void fifo_setup() {
    uint64_t const beyond = (boot_info::info.ram_top >> 12) + 0x100000;
    evtchn_init_control ic{};
    ic.control_gfn = beyond;
    ic.offset = 0;
    ic.vcpu = 0;
    expect_error("init_control with control_gfn beyond RAM", op(EVTCHNOP_init_control, &ic));
    ic.control_gfn = ~0ull;
    expect_error("init_control with control_gfn ~0", op(EVTCHNOP_init_control, &ic));
    ic.control_gfn = gfn_of(scratch_page);
    ic.offset = 3;
    expect_error("init_control with a misaligned offset", op(EVTCHNOP_init_control, &ic));
    ic.offset = 4090;
    expect_error("init_control with offset 4090", op(EVTCHNOP_init_control, &ic));
    ic.offset = 4096;
    expect_error("init_control with offset 4096", op(EVTCHNOP_init_control, &ic));
    ic.offset = 0xfffffff8;
    expect_error("init_control with offset 0xfffffff8", op(EVTCHNOP_init_control, &ic));
    ic.offset = 0;
    ic.vcpu = 1;
    expect_error("init_control for a vCPU we do not have", op(EVTCHNOP_init_control, &ic));
    ic.vcpu = 0xffffffff;
    expect_error("init_control for vCPU 0xffffffff", op(EVTCHNOP_init_control, &ic));
    still_delivering("the failed EVTCHNOP_init_control calls");

    evtchn_expand_array ea{};
    for (uint64_t gfn : {beyond, uint64_t(~0ull), uint64_t(1ull << 40), uint64_t(0xfec00)}) {
        ea.array_gfn = gfn;
        expect_error("expand_array with a bad gfn", op(EVTCHNOP_expand_array, &ea));
    }
    still_delivering("the failed EVTCHNOP_expand_array calls");
}

}  // namespace

void evtchn_hostile() {
    need_xen();
    loud = verbose();
    console::println("evtchn-hostile: %s ABI, timer port %ld", evtchn::abi_name(), timer_port());
    still_delivering("boot");
    binds();
    still_delivering("the failed binds");
    ports();
    still_delivering("the failed port operations");
    fifo_setup();
    if (uint64_t n = evtchn::upcalls_with_if_clear()) fail("%lu upcalls were injected while interrupts were disabled", n);
    console::println("evtchn-hostile: %u hostile operations, all refused; events still delivered", checks);
}

}  // namespace minios::tests
