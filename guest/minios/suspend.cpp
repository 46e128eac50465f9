#include "suspend.hpp"

#include "console.hpp"
#include "evtchn.hpp"
#include "gnttab.hpp"
#include "hypercall.hpp"
#include "sched.hpp"
#include "shared_info.hpp"
#include "time.hpp"
#include "xenbus.hpp"

namespace minios::suspend {
namespace {

// Without shared_info or upcalls there is no event, no timer and no way to wait: better a
// crash the toolstack sees than a domain that looks alive and never answers.
[[noreturn]] void lost(const char* what, long rc) {
    console::println("suspend: %s failed in the new domain: %ld", what, rc);
    sched::finish(sched::Done::crash);
}

void resume_new_domain() {
    if (long rc = shared_info::map(); rc < 0) lost("XENMEM_add_to_physmap(shared_info)", rc);
    time::resumed();
    if (long rc = evtchn::resume(); rc < 0) lost(evtchn::abi() == evtchn::Abi::fifo ? "FIFO event channels" : "the upcall vector", rc);
    if (long rc = sched::bind_timer(); rc < 0) lost("bind_virq(VIRQ_TIMER)", rc);
    // Whoever waits sleeps until the deadline it armed: the new domain must wake it too.
    sched::rearm();
    if (long rc = gnttab::resume(); rc < 0) console::println("suspend: grant table: %s: %ld", gnttab::last_error(), rc);
    console::resume(true);
    if (long rc = xenbus::resume(true); rc < 0)
        console::println("suspend: store: %ld (%s)", rc, xenbus::last_error());
}

}  // namespace

Result run() {
    time::suspending();
    console::suspend();
    xenbus::suspend();
    sched_shutdown s{};
    s.reason = SHUTDOWN_suspend;
    long rc = xen::sched_op(SCHEDOP_shutdown, &s);
    if (rc == 0) {
        resume_new_domain();
        return Result::new_domain;
    }
    xenbus::resume(false);
    console::resume(false);
    if (rc < 0) {
        console::println("suspend: SCHEDOP_shutdown(SHUTDOWN_suspend): %ld", rc);
        return Result::failed;
    }
    sched::rearm();  // the hypervisor need not keep a shut-down domain's timer
    return Result::cancelled;
}

}  // namespace minios::suspend
