// xenbus: the xenstore client against the toolstack's tree for us. Reads `name` and
// `domid` (the toolstack writes both; domid must be ours), checks XS_GET_DOMAIN_PATH,
// then under data/ (guest-writable): write/read back, mkdir + a directory listing, rm (a
// read must then be ENOENT), a watch on data/w (its first event comes at registration,
// the next after a write; none after unwatch), two transactions on one node (the second
// to end gets EAGAIN, a retry succeeds), writes outside our permission (/local/domain/0/x,
// /vm/x: EACCES), a value over XENSTORE_PAYLOAD_MAX (refused without being sent) and one
// over the daemon's node-size quota (refused by it, the connection still usable).
// timeout_ms= (5000) bounds each request and each wait for a watch event.
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../fmt.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "../xenbus.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

constinit char big[XENSTORE_PAYLOAD_MAX + 8];
constinit uint64_t timeout = 0;

const char* err(long rc) {
    static char buf[200];
    fmt::format(buf, sizeof(buf), "%ld (%s)", rc, xenbus::last_error());
    return buf;
}

void must(long rc, const char* what) {
    if (rc < 0) fail("%s: %s", what, err(rc));
}

void expect_value(uint32_t tx, const char* path, const char* want) {
    char buf[128];
    long n = xenbus::read(tx, path, buf, sizeof(buf));
    if (n < 0) fail("read %s: %s", path, err(n));
    if (!lib::str_eq(buf, want)) fail("read %s: \"%s\", want \"%s\"", path, buf, want);
}

void expect_errno(long rc, long want, const char* what) {
    if (rc != -want) fail("%s: %ld, want -%ld (%s)", what, rc, want, xenbus::last_error());
    console::println("xenbus: %s -> %ld as expected", what, rc);
}

bool wait_event(const char* token, xenbus::Event* e, uint64_t deadline) {
    for (;;) {
        if (xenbus::next_event(token, e)) return true;
        if (!evtchn::wait(xenbus::port(), deadline)) return xenbus::next_event(token, e);
    }
}

void identity() {
    char name[64], domid[16], path[64], want[64];
    long n = xenbus::read(0, "name", name, sizeof(name));
    if (n <= 0) fail("read name: %s", n < 0 ? err(n) : "empty");
    if ((n = xenbus::read(0, "domid", domid, sizeof(domid))) < 0) fail("read domid: %s", err(n));
    long self = evtchn::self_domid();
    if (self < 0) fail("our domid (EVTCHNOP_status): %ld", self);
    uint64_t id;
    if (!lib::parse_u64(domid, &id) || id != uint64_t(self)) fail("domid node \"%s\", we are %ld", domid, self);
    must(xenbus::get_domain_path(domid_t(self), path, sizeof(path)), "XS_GET_DOMAIN_PATH");
    fmt::format(want, sizeof(want), "/local/domain/%ld", self);
    if (!lib::str_eq(path, want)) fail("XS_GET_DOMAIN_PATH(%ld): \"%s\", want \"%s\"", self, path, want);
    console::println("xenbus: name \"%s\", domid %ld, domain path %s", name, self, path);
}

void nodes() {
    must(xenbus::write(0, "data/kxen-test", "hello xenbus"), "write data/kxen-test");
    expect_value(0, "data/kxen-test", "hello xenbus");
    must(xenbus::mkdir(0, "data/kxen-dir"), "mkdir data/kxen-dir");
    must(xenbus::write(0, "data/kxen-dir/a", "1"), "write data/kxen-dir/a");
    must(xenbus::write(0, "data/kxen-dir/b", "2"), "write data/kxen-dir/b");
    char list[256];
    long n = xenbus::directory(0, "data/kxen-dir", list, sizeof(list));
    if (n < 0) fail("directory data/kxen-dir: %s", err(n));
    bool a = false, b = false;
    unsigned count = 0;
    for (long i = 0; i < n; i += long(strlen(list + i)) + 1, ++count) {
        a |= lib::str_eq(list + i, "a");
        b |= lib::str_eq(list + i, "b");
    }
    if (!a || !b || count != 2) fail("directory data/kxen-dir: %u names, a %s, b %s", count, a ? "seen" : "missing",
                                     b ? "seen" : "missing");
    must(xenbus::rm(0, "data/kxen-dir"), "rm data/kxen-dir");
    expect_errno(xenbus::read(0, "data/kxen-dir/a", list, sizeof(list)), XEN_ENOENT, "read of a removed node");
    must(xenbus::rm(0, "data/kxen-test"), "rm data/kxen-test");
    expect_errno(xenbus::read(0, "data/kxen-test", list, sizeof(list)), XEN_ENOENT, "read of data/kxen-test after rm");
    console::println("xenbus: write, read, mkdir, directory, rm ok");
}

void watches() {
    xenbus::Event e;
    must(xenbus::watch("data/w", "t-w"), "watch data/w");
    uint64_t t0 = time::now_ns();
    if (!wait_event("t-w", &e, t0 + timeout)) fail("no watch event at registration");
    if (!lib::str_eq(e.path, "data/w")) fail("registration event for \"%s\", want data/w", e.path);
    must(xenbus::write(0, "data/w", "x"), "write data/w");
    if (!wait_event("t-w", &e, time::now_ns() + timeout)) fail("no watch event after writing data/w");
    if (!lib::str_eq(e.path, "data/w")) fail("watch event for \"%s\", want data/w", e.path);
    while (xenbus::next_event("t-w", &e)) {}
    must(xenbus::unwatch("data/w", "t-w"), "unwatch data/w");
    must(xenbus::write(0, "data/w", "y"), "write data/w after unwatch");
    if (wait_event("t-w", &e, time::now_ns() + 100'000'000)) fail("watch event for %s after unwatch", e.path);
    must(xenbus::rm(0, "data/w"), "rm data/w");
    console::println("xenbus: watch fired at registration and after a write, not after unwatch");
}

void transactions() {
    must(xenbus::write(0, "data/tx", "zero"), "write data/tx");
    uint32_t t1, t2;
    must(xenbus::transaction_start(&t1), "transaction_start 1");
    must(xenbus::transaction_start(&t2), "transaction_start 2");
    if (t1 == t2) fail("two transactions share id %u", t1);
    expect_value(t1, "data/tx", "zero");
    expect_value(t2, "data/tx", "zero");
    must(xenbus::write(t1, "data/tx", "one"), "write data/tx in transaction 1");
    must(xenbus::write(t2, "data/tx", "two"), "write data/tx in transaction 2");
    expect_value(0, "data/tx", "zero");  // nothing visible before commit
    must(xenbus::transaction_end(t1, true), "commit transaction 1");
    expect_errno(xenbus::transaction_end(t2, true), XEN_EAGAIN, "commit of the conflicting transaction");
    expect_value(0, "data/tx", "one");
    bool done = false;
    for (int attempt = 0; attempt < 5 && !done; ++attempt) {
        uint32_t t3;
        must(xenbus::transaction_start(&t3), "transaction_start (retry)");
        expect_value(t3, "data/tx", "one");
        must(xenbus::write(t3, "data/tx", "two"), "write data/tx (retry)");
        long rc = xenbus::transaction_end(t3, true);
        if (rc == -XEN_EAGAIN) continue;
        must(rc, "commit (retry)");
        done = true;
    }
    if (!done) fail("the retried transaction kept getting EAGAIN");
    expect_value(0, "data/tx", "two");
    must(xenbus::rm(0, "data/tx"), "rm data/tx");
    console::println("xenbus: concurrent transactions: the second got EAGAIN, its retry committed");
}

void refusals() {
    expect_errno(xenbus::write(0, "/local/domain/0/x", "no"), XEN_EACCES, "write /local/domain/0/x");
    expect_errno(xenbus::write(0, "/vm/x", "no"), XEN_EACCES, "write /vm/x");
    memset(big, 'v', sizeof(big));
    expect_errno(xenbus::write(0, "data/big", big, XENSTORE_PAYLOAD_MAX + 1), XEN_E2BIG,
                 "write of a value over XENSTORE_PAYLOAD_MAX");
    long rc = xenbus::write(0, "data/big", big, 3000);
    if (rc >= 0) fail("write of a 3000-byte value (over the daemon's node-size quota) succeeded");
    console::println("xenbus: 3000-byte value refused by the daemon: %s", err(rc));
    char name[64];
    if ((rc = xenbus::read(0, "name", name, sizeof(name))) < 0) fail("read name after the refusals: %s", err(rc));
    console::println("xenbus: the connection still serves us after the refusals");
}

}  // namespace

void xenbus() {
    need_xen();
    timeout = timeout_ns(5000);
    xenbus::set_timeout(timeout);
    if (long rc = xenbus::init(); rc < 0) fail("no store connection: %s", xenbus::last_error());
    console::println("xenbus: store port %u, server features 0x%x", xenbus::port(), xenbus::ring()->server_features);
    identity();
    nodes();
    watches();
    transactions();
    refusals();
    if (unsigned lost = xenbus::events_lost()) fail("%u watch events lost", lost);
}

}  // namespace minios::tests
