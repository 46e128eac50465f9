// xs-hostile: the guest breaks its own store ring protocol and must survive it: every wait
// is bounded, and the daemon's verdict (its error field) is reported, not trusted. First
// the breaks a daemon answers and outlives: requests of unknown types (999, XS_INVALID,
// XS_WATCH_EVENT, XS_ERROR), a privileged one (XS_INTRODUCE), then a flood of requests
// without reading replies until the request ring stays full, after which the replies are
// drained and an ordinary read must still work. Then the breaks after which a daemon drops
// the connection, each followed by a notification, a bounded wait and a read that must
// fail or succeed in bounded time: a request header with len > XENSTORE_PAYLOAD_MAX
// (`len`), rsp_cons moved beyond rsp_prod (`rsp`), req_prod far beyond req_cons + the ring
// size (`req`). fatal=len|rsp|req (len) picks which goes first, so it is the one the
// daemon sees on a live connection; the others follow. PASS if we get to the end.
// timeout_ms= (2000) bounds each request and wait.
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "../x86.hpp"
#include "../xenbus.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

constexpr uint32_t kFloodIdBase = 0x8000'0000;  // far from xenbus's own ids: its pump drops these replies
constinit uint64_t timeout = 0;

volatile xenstore_domain_interface* ring() { return xenbus::ring(); }
void kick() { evtchn::send(xenbus::port()); }

// Copies n bytes onto the request ring, waiting for room until `deadline`; the bytes
// written.
uint32_t put(const void* p, uint32_t n, uint64_t deadline) {
    auto* s = static_cast<const char*>(p);
    uint32_t done = 0;
    while (done < n) {
        XENSTORE_RING_IDX cons = ring()->req_cons, prod = ring()->req_prod;
        x86::mb();
        if (prod - cons > XENSTORE_RING_SIZE) break;
        uint32_t room = XENSTORE_RING_SIZE - (prod - cons);
        if (!room) {
            kick();
            if (!evtchn::wait(xenbus::port(), deadline)) break;
            continue;
        }
        uint32_t k = n - done < room ? n - done : room;
        for (uint32_t i = 0; i < k; ++i) ring()->req[MASK_XENSTORE_IDX(prod + i)] = s[done + i];
        x86::barrier();
        ring()->req_prod = prod + k;
        done += k;
    }
    kick();
    return done;
}

const char* error_name(uint32_t e) {
    switch (e) {
    case XENSTORE_ERROR_NONE: return "none";
    case XENSTORE_ERROR_COMM: return "comm";
    case XENSTORE_ERROR_RINGIDX: return "ring index";
    case XENSTORE_ERROR_PROTO: return "protocol";
    default: return "?";
    }
}

void pause_ms(uint64_t ms) {
    uint64_t end = time::now_ns() + ms * 1'000'000;
    while (evtchn::wait(xenbus::port(), end)) {}
}

// A read through xenbus after a break: whatever it returns, it must return in time.
void probe(const char* after) {
    char buf[64];
    uint64_t t0 = time::now_ns();
    long rc = xenbus::read(0, "name", buf, sizeof(buf));
    uint64_t ms = (time::now_ns() - t0) / 1'000'000;
    if (ms > 2 * timeout / 1'000'000 + 1000) fail("a read after %s took %lu ms", after, ms);
    console::println("xs-hostile: after %s: daemon error field %u (%s); a read returned %ld in %lu ms%s%s", after,
                     ring()->error, error_name(ring()->error), rc, ms, rc < 0 ? ": " : "",
                     rc < 0 ? xenbus::last_error() : "");
}

void unknown_types() {
    const uint32_t types[] = {999, XS_INVALID, XS_WATCH_EVENT, XS_ERROR, XS_INTRODUCE};
    for (uint32_t t : types) {
        char reply[64];
        uint32_t type = 0;
        long rc = xenbus::request(t, 0, "x\0y\0z\0", 6, reply, sizeof(reply), &type);
        if (rc >= 0) fail("request of type %u succeeded (reply type %u \"%s\")", t, type, reply);
        if (rc == -XEN_ETIMEDOUT || rc == -XEN_EIO) fail("request of type %u: %ld (%s)", t, rc, xenbus::last_error());
        console::println("xs-hostile: request type %u -> %ld (%s)", t, rc, xenbus::last_error());
    }
}

// Waits until the request ring has room for all n bytes, then writes them: a flood must
// not leave half a request behind, or every later request would be read as its rest.
bool put_whole(const void* p, uint32_t n, uint64_t deadline) {
    for (;;) {
        XENSTORE_RING_IDX cons = ring()->req_cons, prod = ring()->req_prod;
        if (prod - cons > XENSTORE_RING_SIZE) return false;
        if (XENSTORE_RING_SIZE - (prod - cons) >= n) return put(p, n, deadline) == n;
        kick();
        if (!evtchn::wait(xenbus::port(), deadline)) return false;
    }
}

void flood() {
    char msg[sizeof(xsd_sockmsg) + 5];
    xsd_sockmsg h{};
    h.type = XS_READ;
    h.len = 5;
    memcpy(msg + sizeof(h), "name", 5);
    uint32_t sent = 0;
    for (; sent < 2000; ++sent) {
        h.req_id = kFloodIdBase + sent;
        memcpy(msg, &h, sizeof(h));
        if (!put_whole(msg, sizeof(msg), time::now_ns() + 300'000'000)) break;
    }
    console::println("xs-hostile: flood: %u requests written without reading a reply (request ring %s)", sent,
                     sent == 2000 ? "never stayed full" : "full for 300 ms");
    // Drain: every reply the daemon still owes us, until it is quiet for 300 ms.
    uint64_t const give_up = time::now_ns() + 10 * timeout;
    uint64_t quiet_until = time::now_ns() + 300'000'000;
    while (time::now_ns() < quiet_until && time::now_ns() < give_up) {
        if (xenbus::pump()) quiet_until = time::now_ns() + 300'000'000;
        else evtchn::wait(xenbus::port(), quiet_until);
    }
    char buf[64];
    long rc = xenbus::read(0, "name", buf, sizeof(buf));
    if (rc < 0) fail("flood: the connection no longer serves us: %ld (%s)", rc, xenbus::last_error());
    console::println("xs-hostile: flood drained; a read still works (\"%s\")", buf);
}

void too_long() {
    xsd_sockmsg h{};
    h.type = XS_READ;
    h.req_id = kFloodIdBase - 1;
    h.len = XENSTORE_PAYLOAD_MAX + 1;
    put(&h, sizeof(h), time::now_ns() + timeout);
    char junk[64];
    memset(junk, 'j', sizeof(junk));
    put(junk, sizeof(junk), time::now_ns() + timeout);
    pause_ms(200);
    probe("a header with len > XENSTORE_PAYLOAD_MAX");
}

void rsp_beyond() {
    ring()->rsp_cons = ring()->rsp_prod + 5000;
    kick();
    xsd_sockmsg h{};
    h.type = XS_READ;
    h.req_id = kFloodIdBase - 2;
    h.len = 5;
    put(&h, sizeof(h), time::now_ns() + timeout);
    put("name", 5, time::now_ns() + timeout);
    pause_ms(200);
    probe("rsp_cons moved beyond rsp_prod");
}

void req_beyond() {
    ring()->req_prod = ring()->req_cons + 10 * XENSTORE_RING_SIZE;
    kick();
    pause_ms(200);
    probe("req_prod far beyond req_cons + ring size");
}

}  // namespace

void xs_hostile() {
    need_xen();
    timeout = timeout_ns(2000);
    xenbus::set_timeout(timeout);
    if (long rc = xenbus::init(); rc < 0) skip("no store connection");
    unknown_types();
    flood();
    void (*fatal[3])() = {too_long, rsp_beyond, req_beyond};
    const char* first = cmdline::get("fatal");
    if (first && lib::str_eq(first, "rsp")) fatal[0] = rsp_beyond, fatal[1] = too_long;
    else if (first && lib::str_eq(first, "req")) fatal[0] = req_beyond, fatal[2] = too_long;
    else if (first && !lib::str_eq(first, "len")) fail("bad fatal=%s (len|rsp|req)", first);
    for (auto f : fatal) f();
}

}  // namespace minios::tests
