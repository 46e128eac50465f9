// xs-loop: xenstore transactions for as long as the domain lives, through restarts of the
// store daemon (the fault tests kill it). Round i writes data/loop/a, b and c = i in one
// transaction (EAGAIN: the round again), after checking inside it that the three agree and
// hold a round whose commit succeeded or went unanswered: all or nothing, and nothing that
// was committed lost. A watch on data/host (the host writes it) prints each new value:
// `xs-loop: host wrote <value>`. A request the daemon died with goes unanswered and times
// out after timeout_ms= (1000); the round then starts over, and a commit without an answer
// counts as maybe done. The ring going unusable, or no round committing for 30 s, fails.
// `period_ms=` (5) between rounds; `xs-loop: committed <i>` every 50 commits and after
// each recovery.
#include "../cmdline.hpp"
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

constexpr const char* kNodes[] = {"data/loop/a", "data/loop/b", "data/loop/c"};

// Some of a, b and c missing, in this many transactions in a row. ENOENT is also the answer
// to a transaction the daemon does not know (it restarted between two reads): only a gap
// that stays is a transaction that landed in part.
constinit unsigned partial_seen = 0;

long partial(const char* missing, const char* present, const char* value) {
    if (++partial_seen == 3) fail("%s missing but %s holds \"%s\": a transaction landed in part", missing, present, value);
    return -XEN_ENOENT;
}

// Reads a, b and c inside tx: 0 and their common value in *value, 1 if the loop never wrote
// them, < 0 on a request error.
long read_round(uint32_t tx, uint64_t* value) {
    char first[32] = "";
    for (int i = 0; i < 3; ++i) {
        char buf[32];
        long n = xenbus::read(tx, kNodes[i], buf, sizeof(buf));
        if (n == -XEN_ENOENT) {
            if (i != 0) return partial(kNodes[i], kNodes[0], first);
            for (int j = 1; j < 3; ++j)
                if (xenbus::read(tx, kNodes[j], buf, sizeof(buf)) >= 0) return partial(kNodes[0], kNodes[j], buf);
            // All three missing in tx, but a daemon restarted since transaction_start also
            // answers ENOENT: it does not know tx. Outside any transaction the nodes say which.
            if (long out = xenbus::read(0, kNodes[0], buf, sizeof(buf)); out != -XEN_ENOENT) {
                if (out >= 0) console::println("xs-loop: transaction %u is unknown to the daemon", tx);
                return out < 0 ? out : -XEN_ENOENT;
            }
            partial_seen = 0;
            return 1;
        }
        if (n < 0) return n;
        if (i == 0) memcpy(first, buf, sizeof(first));
        else if (!lib::str_eq(buf, first))
            fail("%s = \"%s\" but %s = \"%s\": a transaction landed in part", kNodes[0], first, kNodes[i], buf);
    }
    if (!lib::parse_u64(first, value)) fail("%s = \"%s\"", kNodes[0], first);
    partial_seen = 0;
    return 0;
}

}  // namespace

void xs_loop() {
    need_xen();
    uint64_t const timeout = timeout_ns(1000);
    uint64_t period_ms;
    if (!cmdline::get_u64("period_ms", 5, &period_ms)) fail("bad period_ms");
    if (long rc = xenbus::init(); rc < 0) fail("xenbus: %ld (%s)", rc, xenbus::last_error());
    xenbus::set_timeout(timeout);
    if (long rc = xenbus::watch("data/host", "host"); rc < 0) fail("watch data/host: %ld (%s)", rc, xenbus::last_error());
    running();

    uint64_t round = 1;       // the value this round writes
    uint64_t confirmed = 0;   // the last value read back or committed (0: none yet)
    uint64_t commits = 0, errors = 0, events = 0;
    bool recovering = false, host_changed = true;
    char host[64] = "";
    uint64_t last_commit = time::now_ns();
    for (;;) {
        if (!xenbus::ready()) fail("the store ring is unusable: %s", xenbus::last_error());
        if (time::now_ns() - last_commit > 30'000'000'000ull)
            fail("no commit for 30 s (%lu errors; last: %s)", errors, xenbus::last_error());
        long rc;
        uint32_t tx = 0;
        uint64_t seen = 0;
        if ((rc = xenbus::transaction_start(&tx)) < 0) goto error;
        if ((rc = read_round(tx, &seen)) < 0) goto error_in_tx;
        if (rc == 0) {
            if (seen < confirmed || seen >= round)
                fail("data/loop holds round %lu; committed: %lu, attempted up to %lu", seen, confirmed, round - 1);
            confirmed = seen;
        } else if (confirmed) {
            fail("data/loop is gone; round %lu was committed", confirmed);
        }
        for (const char* node : kNodes) {
            char v[24];
            fmt::format(v, sizeof(v), "%lu", round);
            if ((rc = xenbus::write(tx, node, v)) < 0) goto error_in_tx;
        }
        rc = xenbus::transaction_end(tx, true);
        if (rc == -XEN_EAGAIN) continue;
        if (rc < 0) {
            // Maybe committed: the next round's read says. This value is not used again.
            ++round;
            goto error;
        }
        confirmed = round++;
        ++commits;
        last_commit = time::now_ns();
        if (recovering || commits % 50 == 0)
            console::println("xs-loop: committed %lu (%lu commits, %lu errors, %lu watch events)", confirmed, commits,
                             errors, events);
        recovering = false;
        goto next;
    error_in_tx:
        if (rc != -XEN_ETIMEDOUT) (void)xenbus::transaction_end(tx, false);
    error:
        ++errors;
        if (!recovering) console::println("xs-loop: round %lu: %ld (%s)", round, rc, xenbus::last_error());
        recovering = true;
    next:
        xenbus::Event e;
        while (xenbus::next_event("host", &e)) {
            ++events;
            host_changed = true;
        }
        if (host_changed) {
            char v[64];
            long n = xenbus::read(0, "data/host", v, sizeof(v));
            if (n >= 0 || n == -XEN_ENOENT) {
                host_changed = false;
                if (n < 0) v[0] = '\0';
                if (!lib::str_eq(v, host)) {
                    memcpy(host, v, sizeof(host));
                    if (*host) console::println("xs-loop: host wrote %s", host);
                }
            }
        }
        evtchn::wait(xenbus::port(), time::now_ns() + period_ms * 1'000'000);
    }
}

}  // namespace minios::tests
