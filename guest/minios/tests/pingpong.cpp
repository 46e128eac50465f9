// pingpong: two domains exchange `count` messages over an interdomain event channel,
// each message carried in a page the server granted to the client. No xenstore: the
// rendezvous goes through the command line and the console.
//
//   server: test=pingpong role=server peer=<client domid>|next [count=10000] [gnttab=v1|v2]
//     (peer=next: our own domid + 1, the id kxend gives the next domain created: a
//     client created right after the server), alloc_unbound(peer), grants `page` to peer
//     (read-write), prints
//     "pingpong: server port=<p> gref=<g>" and waits.
//   client: test=pingpong role=client peer=<server domid> port=<p> gref=<g> [count=10000]
//     bind_interdomain(peer, p), then for i in 0..count: GNTTABOP_copy its request i into
//     the server's page (dest = gref, offset 0; the client cannot map it), send. The server
//     checks request i and writes reply i into the same page at offset 2048, send. The
//     client reads the reply with GNTTABOP_copy (source = gref, offset 2048) and checks it;
//     to save a hypercall per round trip, it does so in the same GNTTABOP_copy batch that
//     writes request i+1. At the end the client sends one more event ("done"), so the server
//     stays up until the client has read the last reply, and the server ends its grant
//     (gnttab_end_foreign_access's check: GTF_reading/GTF_writing clear).
//
// Both print "KXEN-TEST pingpong PASS role=... count=N elapsed_us=T" (pvclock). Keys:
// size= (payload bytes, 64, max 2032), timeout_ms= (per message, 30000; the server's first
// wait is for the client to be created, so it is 10 times that).
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../gnttab.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

constexpr uint16_t kReqOff = 0;
constexpr uint16_t kReplyOff = 2048;
constexpr uint64_t kMagicReq = 0x6b78656e52455120ull;   // "kxenREQ "
constexpr uint64_t kMagicReply = 0x6b78656e52504c59ull; // "kxenRPLY"

struct Msg {
    uint64_t magic;
    uint64_t seq;
    uint8_t data[2048 - 16];
};
static_assert(sizeof(Msg) == 2048);

alignas(4096) constinit uint8_t page[4096]{};  // the server's granted page; the client's staging page

uint64_t gfn_of(const void* p) { return uint64_t(p) >> 12; }
Msg* at(uint16_t off) { return reinterpret_cast<Msg*>(page + off); }

uint8_t byte(uint64_t seq, unsigned i, bool reply) { return uint8_t(seq * 131 + i * 7 + (reply ? 0x5a : 0)); }

void fill(Msg* m, uint64_t seq, unsigned size, bool reply) {
    m->magic = reply ? kMagicReply : kMagicReq;
    m->seq = seq;
    for (unsigned i = 0; i < size; ++i) m->data[i] = byte(seq, i, reply);
}

// 0 if good, else a description of the first difference.
const char* check(volatile Msg* m, uint64_t seq, unsigned size, bool reply) {
    if (m->magic != (reply ? kMagicReply : kMagicReq)) return "bad magic";
    if (m->seq != seq) return "wrong sequence number";
    for (unsigned i = 0; i < size; ++i)
        if (m->data[i] != byte(seq, i, reply)) return "payload differs";
    return nullptr;
}

uint64_t key(const char* k, bool required, uint64_t dflt = 0) {
    uint64_t v;
    if (required && !cmdline::get(k)) fail("needs %s=", k);
    if (!cmdline::get_u64(k, dflt, &v)) fail("bad %s=%s", k, cmdline::get(k));
    return v;
}

[[noreturn]] void report(const char* role, uint64_t count, uint64_t start, unsigned size) {
    uint64_t us = (time::now_ns() - start) / 1000;
    console::println("pingpong: %s: %lu round trips of %u bytes in %lu us (%lu us each), %s ABI, grant table v%u, "
                     "%lu upcalls",
                     role, count, size, us, us / count, evtchn::abi_name(), gnttab::version(), evtchn::upcalls());
    console::println("KXEN-TEST %s PASS role=%s count=%lu elapsed_us=%lu", current(), role, count, us);
    sched::finish(on_done());
}

[[noreturn]] void server(domid_t peer, uint64_t count, unsigned size, uint64_t timeout) {
    long port = evtchn::alloc_unbound(peer);
    if (port < 0) fail("alloc_unbound(%u): %ld", peer, port);
    long gref = gnttab::grant_access(peer, gfn_of(page), false);
    if (gref < 0) fail("grant_access(%u): %ld", peer, gref);
    console::println("pingpong: server port=%ld gref=%ld", port, gref);
    evtchn_port_t const p = evtchn_port_t(port);

    if (!evtchn::wait(p, time::now_ns() + 10 * timeout)) fail("no client after %lu ms", 10 * timeout / 1'000'000);
    uint64_t const start = time::now_ns();
    for (uint64_t i = 0; i < count; ++i) {
        if (i && !evtchn::wait(p, time::now_ns() + timeout)) fail("no request %lu", i);
        if (const char* why = check(at(kReqOff), i, size, false))
            fail("request %lu: %s (seq %lu)", i, why, at(kReqOff)->seq);
        fill(at(kReplyOff), i, size, true);
        if (long rc = evtchn::send(p); rc < 0) fail("send reply %lu: %ld", i, rc);
    }
    if (!evtchn::wait(p, time::now_ns() + timeout)) fail("no final event from the client");
    long ended = 0;
    for (int tries = 0; tries < 100 && ended == 0; ++tries) ended = gnttab::end_access(grant_ref_t(gref));
    if (ended != 1) fail("end_access(%ld): %ld (flags 0x%x)", gref, ended, gnttab::flags(grant_ref_t(gref)));
    evtchn::close(p);
    report("server", count, start, size);
}

[[noreturn]] void client(domid_t peer, uint64_t count, unsigned size, uint64_t timeout) {
    evtchn_port_t const rport = evtchn_port_t(key("port", true));
    grant_ref_t const gref = grant_ref_t(key("gref", true));
    long port = evtchn::bind_interdomain(peer, rport);
    if (port < 0) fail("bind_interdomain(%u, %u): %ld", peer, rport, port);
    evtchn_port_t const p = evtchn_port_t(port);
    // Xen sets our new port pending at bind: consume it so it is not taken for a reply.
    if (!evtchn::wait(p, time::now_ns() + timeout)) fail("port %u not pending after bind_interdomain", p);
    console::println("pingpong: client port=%u bound to server %u:%u, gref %u", p, peer, rport, gref);

    uint64_t const g = gfn_of(page);
    uint16_t const len = uint16_t(16 + size);
    gnttab_copy ops[2];
    uint64_t const start = time::now_ns();
    fill(at(kReqOff), 0, size, false);
    for (uint64_t i = 0; i <= count; ++i) {
        // ops[0]: read reply i-1 into our page; ops[1]: write request i (already in our page).
        unsigned n = 0;
        if (i > 0) ops[n++] = gnttab::copy_op(g, kReplyOff, peer, gref, kReplyOff, len, false);
        if (i < count) ops[n++] = gnttab::copy_op(g, kReqOff, peer, gref, kReqOff, len, true);
        long rc = gnttab::copy(ops, n);
        if (rc < 0) fail("GNTTABOP_copy (message %lu): %ld", i, rc);
        for (unsigned k = 0; k < n; ++k)
            if (ops[k].status != GNTST_okay)
                fail("GNTTABOP_copy (message %lu, %s): status %d (%s)", i,
                     ops[k].flags & GNTCOPY_dest_gref ? "request" : "reply", ops[k].status,
                     gnttab::status_name(ops[k].status));
        if (i > 0) {
            if (const char* why = check(at(kReplyOff), i - 1, size, true))
                fail("reply %lu: %s (seq %lu)", i - 1, why, at(kReplyOff)->seq);
        }
        // "done" after the last reply, else "request i is there".
        if (long r = evtchn::send(p); r < 0) fail("send (message %lu): %ld", i, r);
        if (i == count) break;
        fill(at(kReqOff), i + 1, size, false);  // while the server works
        if (!evtchn::wait(p, time::now_ns() + timeout)) fail("no reply %lu", i);
    }
    evtchn::close(p);
    report("client", count, start, size);
}

}  // namespace

void pingpong() {
    need_xen();
    const char* role = cmdline::get("role");
    if (!role) fail("needs role=server|client");
    const char* peer_key = cmdline::get("peer");
    uint64_t peer_id;
    long const self = evtchn::self_domid();
    if (self < 0) fail("own domid (alloc_unbound + status): %ld", self);
    if (peer_key && lib::str_eq(peer_key, "next") && lib::str_eq(role, "server")) peer_id = uint64_t(self) + 1;
    else peer_id = key("peer", true);
    if (peer_id >= DOMID_FIRST_RESERVED || peer_id == uint64_t(self)) fail("bad peer=%s", peer_key);
    domid_t const peer = domid_t(peer_id);
    console::println("pingpong: %s, domid %ld, peer %u", role, self, peer);
    uint64_t const count = get_count(10000);
    uint64_t const timeout = timeout_ns(30000);
    uint64_t const size = key("size", false, 64);
    if (size > sizeof(Msg::data)) fail("size=%lu > %lu", size, sizeof(Msg::data));
    evtchn::set_spin(key("spin_us", false, 0) * 1000);
    setup_gnttab();
    if (lib::str_eq(role, "server")) server(peer, count, unsigned(size), timeout);
    if (lib::str_eq(role, "client")) client(peer, count, unsigned(size), timeout);
    fail("bad role=%s (server|client)", role);
}

}  // namespace minios::tests
