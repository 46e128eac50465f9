#include "control.hpp"

#include "console.hpp"
#include "evtchn.hpp"
#include "lib.hpp"
#include "sched.hpp"
#include "suspend.hpp"
#include "time.hpp"
#include "xenbus.hpp"

namespace minios::control {
namespace {

constexpr const char* kToken = "control";

constinit bool active_ = false;
constinit bool tried = false;
constinit long start_rc = 0;

struct Request {
    const char* value;
    sched::Done how;
};
constexpr Request kRequests[] = {
    {"poweroff", sched::Done::poweroff},
    {"halt", sched::Done::poweroff},
    {"reboot", sched::Done::reboot},
    {"crash", sched::Done::crash},
};

constexpr const char* kFeatures[] = {"control/feature-poweroff", "control/feature-reboot", "control/feature-suspend"};

void advertise() {
    for (const char* f : kFeatures)
        if (long w = xenbus::write(0, f, "1"); w < 0)
            console::println("control: writing %s: %ld (%s)", f, w, xenbus::last_error());
}

constinit uint64_t new_domains_ = 0;

// Linux's do_suspend, from our side. Called with no store request in flight (the
// acknowledging transaction has ended), so the store ring is quiet.
void suspend_now() {
    console::println("control: suspending");
    switch (suspend::run()) {
    case suspend::Result::new_domain:
        ++new_domains_;
        // The toolstack wrote the new domain's tree; what we wrote ourselves did not come
        // along. The watch on control/shutdown came back with xenbus::resume.
        advertise();
        console::println("control: resumed in a new domain (store port %u, console %s port %ld)", xenbus::port(),
                         console::sink(), console::ring_port());
        break;
    case suspend::Result::cancelled: console::println("control: suspend cancelled, running on"); break;
    case suspend::Result::failed: break;
    }
}

// Linux's shutdown_handler: read and acknowledge in one transaction, so a request written
// while we look is not acknowledged unseen.
void check_shutdown() {
    char value[32];
    for (int attempt = 0; attempt < 16; ++attempt) {
        uint32_t tx;
        if (long rc = xenbus::transaction_start(&tx); rc < 0) {
            console::println("control: transaction_start: %ld (%s)", rc, xenbus::last_error());
            return;
        }
        long n = xenbus::read(tx, "control/shutdown", value, sizeof(value));
        if (n <= 0) {  // absent or empty: nothing asked (or our own acknowledgement)
            xenbus::transaction_end(tx, false);
            return;
        }
        Request const* req = nullptr;
        for (auto const& r : kRequests)
            if (size_t(n) < sizeof(value) && lib::str_eq(r.value, value)) req = &r;
        bool suspending = lib::str_eq(value, "suspend");
        if (req || suspending) {
            if (long rc = xenbus::write(tx, "control/shutdown", ""); rc < 0)
                console::println("control: acknowledging %s: %ld (%s)", value, rc, xenbus::last_error());
        }
        long rc = xenbus::transaction_end(tx, true);
        if (rc == -XEN_EAGAIN) continue;
        if (suspending) return suspend_now();
        if (!req) {
            console::println("control: ignoring shutdown request %s", value);
            return;
        }
        console::println("control: shutdown request %s", value);
        sched::finish(req->how);
    }
    console::println("control: control/shutdown kept changing under 16 transactions");
}

}  // namespace

long start() {
    if (tried) return start_rc;
    tried = true;
    long rc = xenbus::init();
    if (rc < 0) {
        console::println("control: no store: %s", xenbus::last_error());
        return start_rc = rc;
    }
    advertise();
    // The watch fires once at once: a request made before we looked is seen then.
    if ((rc = xenbus::watch("control/shutdown", kToken)) < 0) {
        console::println("control: watching control/shutdown: %ld (%s)", rc, xenbus::last_error());
        return start_rc = rc;
    }
    active_ = true;
    console::println("control: watching control/shutdown (store port %u)", xenbus::port());
    return 0;
}

bool active() { return active_; }

void poll() {
    if (!active_) return;
    evtchn::take(xenbus::port());  // next_event reads the ring whether or not it fired
    xenbus::Event e;
    bool asked = false;
    while (xenbus::next_event(kToken, &e)) asked = true;
    if (asked) check_shutdown();
}

bool wait(evtchn_port_t port, uint64_t deadline_ns) {
    for (;;) {
        uint64_t seen = evtchn::upcalls();
        if (evtchn::take(port)) return true;
        poll();
        if (time::now_ns() >= deadline_ns) return false;
        sched::timer_by(deadline_ns);
        sched::block_since(seen);
    }
}

uint64_t new_domains() { return new_domains_; }

void idle_forever() {
    for (;;) {
        uint64_t seen = evtchn::upcalls();
        poll();
        sched::block_since(seen);
    }
}

}  // namespace minios::control
