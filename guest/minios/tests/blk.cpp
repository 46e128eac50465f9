// blk and blk-hostile: the PV block frontend (blkfront.hpp) against the backend.
//
//   test=blk [size=<MiB>] [qd=N] [indirect=0|1] [segs=N] [pattern=seq|random] [seed=N] [persistent=0|1]
//            [queues=1..4]
// writes `size` MiB from sector 0, each 512-byte sector filled with pattern_word() of its
// number (the host checks the image with the same function), flushes, reads it all back in
// order and checks it; pattern=random writes in a shuffled order of requests and adds a
// shuffled read pass. `qd` requests in flight (8), `segs` pages per request (256 with
// indirect segments, 11 without; fewer if grant entries run short). persistent=0 does not
// offer feature-persistent (every blk test offers it by default). queues=N spreads the
// requests over N rings (multi-queue), request k on ring k % N.
//
//   test=blk-loop [rounds=N] [regions=K] [kib=N]
// rounds of one write and one flush: round r writes `kib` KiB (256) of seed r's pattern to
// region r % K (16) and flushes; each flushed round is acknowledged, so after `rounds` (400)
// every region holds the last round that wrote it, which the guest reads back and checks
// (and the host checks in the image). Meant to be interrupted: a restarted backend (kill -9)
// is waited for, and a resume in a new domain (save/restore, migration) reconnects the disk
// and does the round again. `blk-loop: round <r> flushed` every 25 rounds and after each
// recovery.
//
//   test=blk-hostile [ro=1]
// malformed requests, each answered with an error (EOPNOTSUPP for an unknown op), with good
// requests between them still served; then req_prod far past the ring, after which the
// backend must close the device. Its one legitimate write: page 0 (sectors 0..7) = 0x5a,
// unless ro=1, where writes must fail.
#include "../blkfront.hpp"
#include "blk_common.hpp"
#include "../boot_info.hpp"
#include "../cmdline.hpp"
#include "../evtchn.hpp"
#include "../console.hpp"
#include "../control.hpp"
#include "../gnttab.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "../xenbus.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

using namespace blk_common;

// The content of 8-byte word `w` (0..63) of sector `s`; tests/integration/blk_test.cpp has the same.
inline uint64_t pattern_word(uint64_t s, uint64_t w, uint64_t seed) { return (s * 0x9E3779B97F4A7C15ull) ^ w ^ seed; }

void fill(uint64_t* p, uint64_t sector, uint32_t n, uint64_t seed) {
    for (uint32_t i = 0; i < n; ++i, ++sector) {
        uint64_t const base = (sector * 0x9E3779B97F4A7C15ull) ^ seed;
        for (uint64_t w = 0; w < 64; ++w) *p++ = base ^ w;
    }
}

void check(uint64_t const* p, uint64_t sector, uint32_t n, uint64_t seed) {
    for (uint32_t i = 0; i < n; ++i, ++sector) {
        uint64_t const base = (sector * 0x9E3779B97F4A7C15ull) ^ seed;
        for (uint64_t w = 0; w < 64; ++w, ++p)
            if (*p != (base ^ w)) fail("sector %lu word %lu: read 0x%lx, wrote 0x%lx", sector, w, *p, pattern_word(sector, w, seed));
    }
}

void connect(blkfront::Device* qs, unsigned nq, Pages& pages, uint64_t timeout) {
    blkfront::Device& d = qs[0];
    d.want_persistent = opt("persistent", 1) != 0;
    uint64_t rings[4];
    for (unsigned q = 0; q < nq; ++q) rings[q] = pages.take(1);
    long rc = blkfront::connect_queues(qs, nq, 0, rings, timeout);
    if (rc < 0) fail("connect: %ld: %s", rc, blkfront::last_error());
    console::println("%s: %s -> %s (domain %u): %lu sectors, info %u, indirect %u, flush %d, discard %d, port %u, "
                     "ring-ref %u, persistent grants %d, queues %u of %u",
                     current(), d.frontend, d.backend, d.backend_id, d.sectors, d.info, d.max_indirect, d.flush,
                     d.discard, d.port, d.ring_ref, d.persistent, nq, d.max_queues);
}

struct Slot {
    blkfront::Io io;
    uint64_t gfns[blkfront::kMaxPages];
    uint64_t indirect_gfn;
    bool busy;
};

struct Run {
    blkfront::Device* qs;   // slot k goes on queue k % nq
    uint32_t nq;
    Slot* slots;
    uint32_t qd, per_req;  // sectors per request
    uint64_t seed, timeout;

    uint64_t* data(Slot& s) { return reinterpret_cast<uint64_t*>(s.gfns[0] * kPage); }

    // Waits for one response and finishes its request; false if none were in flight.
    bool reap(bool verify) {
        uint32_t busy = 0;
        for (uint32_t i = 0; i < qd; ++i) busy += slots[i].busy;
        if (!busy) return false;
        blkif_response rsp;
        uint64_t const deadline = time::now_ns() + timeout;
        for (uint32_t q = 0;; q = (q + 1) % nq) {
            if (blkfront::take_response(qs[q], &rsp)) break;
            if (q == nq - 1 && !blkfront::wait_any(qs, nq, deadline))
                fail("no response within the timeout (%u in flight)", busy);
        }
        if (rsp.id >= qd || !slots[rsp.id].busy) fail("response with unknown id %lu", rsp.id);
        Slot& s = slots[rsp.id];
        if (rsp.status != BLKIF_RSP_OKAY)
            fail("%s of sectors %lu+%u: status %d", s.io.write ? "write" : "read", s.io.sector, s.io.nr_sectors, rsp.status);
        if (rsp.operation != ((s.io.nr_sectors + 7) / 8 > BLKIF_MAX_SEGMENTS_PER_REQUEST ? BLKIF_OP_INDIRECT
                              : s.io.write ? BLKIF_OP_WRITE : BLKIF_OP_READ))
            fail("response operation %u for id %lu", rsp.operation, rsp.id);
        if (blkfront::complete(s.io) < 0) fail("the backend still holds a grant of request %lu", rsp.id);
        if (verify && !s.io.write) check(data(s), s.io.sector, s.io.nr_sectors, seed);
        s.busy = false;
        return true;
    }

    // One pass over `chunks` requests; order[i] (or i) is the chunk the i-th request covers.
    void pass(bool write, uint64_t total, uint32_t const* order, uint64_t chunks) {
        for (uint64_t i = 0; i < chunks; ++i) {
            Slot* s = nullptr;
            for (;;) {
                for (uint32_t k = 0; k < qd && !s; ++k)
                    if (!slots[k].busy) s = &slots[k];
                if (s) break;
                for (uint32_t q = 0; q < nq; ++q) blkfront::push(qs[q]);
                reap(true);
            }
            uint64_t const chunk = order ? order[i] : i;
            uint64_t const sector = chunk * per_req;
            uint32_t const n = uint32_t(total - sector < per_req ? total - sector : per_req);
            s->io.id = uint64_t(s - slots);
            s->io.sector = sector;
            s->io.nr_sectors = n;
            s->io.write = write;
            s->io.gfns = s->gfns;
            s->io.indirect_gfns = &s->indirect_gfn;
            if (write) fill(data(*s), sector, n, seed);
            if (long rc = blkfront::submit(qs[(s - slots) % nq], s->io); rc < 0) fail("submit: %ld", rc);
            s->busy = true;
        }
        for (uint32_t q = 0; q < nq; ++q) blkfront::push(qs[q]);
        while (reap(true)) {
        }
    }

    void flush() {
        blkfront::Device& d = qs[0];
        if (blkfront::submit_flush(d, 1000) < 0) fail("no slot for the flush");
        blkfront::push(d);
        blkif_response rsp;
        uint64_t const deadline = time::now_ns() + timeout;
        while (!blkfront::take_response(d, &rsp))
            if (!blkfront::wait(d, deadline)) fail("no flush response");
        if (rsp.id != 1000 || rsp.operation != BLKIF_OP_FLUSH_DISKCACHE || rsp.status != BLKIF_RSP_OKAY)
            fail("flush: id %lu op %u status %d", rsp.id, rsp.operation, rsp.status);
    }
};

void report(const char* what, uint64_t bytes, uint64_t ns) {
    uint64_t const kib_s = ns ? bytes * 1'000'000'000ull / 1024 / ns : 0;
    console::println("blk: %s %lu KiB in %lu ms: %lu KiB/s", what, bytes >> 10, ns / 1'000'000, kib_s);
}

}  // namespace

void blk() {
    need_xen();
    uint64_t const timeout = timeout_ns(30000);
    setup_gnttab(4);
    Pages pages;
    pages.init();
    uint64_t const nq = opt("queues", 1);
    if (!nq || nq > 4) fail("queues=%lu: 1..4", nq);
    blkfront::Device qs[4];
    blkfront::Device& d = qs[0];
    connect(qs, unsigned(nq), pages, timeout);

    uint64_t const size_mib = opt("size", 8), qd = opt("qd", 8), seed = opt("seed", 1);
    uint64_t const indirect = opt("indirect", d.max_indirect ? 1 : 0);
    const char* pat = cmdline::get("pattern");
    bool const random = pat && lib::str_eq(pat, "random");
    if (pat && !random && !lib::str_eq(pat, "seq")) fail("bad pattern=%s (seq|random)", pat);
    if (!qd || qd > 32) fail("qd=%lu: 1..32", qd);
    if (indirect && !d.max_indirect) fail("indirect=1 but the backend offers no indirect segments");
    uint64_t const total = size_mib * 2048;
    if (!total || total > d.sectors) fail("size=%lu MiB: the disk has %lu sectors", size_mib, d.sectors);

    uint64_t segs = opt("segs", indirect ? (d.max_indirect < blkfront::kMaxPages ? d.max_indirect : blkfront::kMaxPages)
                                         : BLKIF_MAX_SEGMENTS_PER_REQUEST);
    if (!indirect && segs > BLKIF_MAX_SEGMENTS_PER_REQUEST) segs = BLKIF_MAX_SEGMENTS_PER_REQUEST;
    // Each request in flight holds its data pages' grants and one for its segment list.
    uint64_t const entries = gnttab::nr_entries() - GNTTAB_NR_RESERVED_ENTRIES - 1;
    if (qd * (segs + 1) > entries) segs = entries / qd - 1;
    uint64_t const slot_pages = (qd * sizeof(Slot) + kPage - 1) / kPage;
    if (qd * (segs + 1) + slot_pages + 16 > pages.left()) {
        uint64_t const fit = (pages.left() - slot_pages - 16) / qd;
        if (fit < 2) fail("not enough RAM for qd=%lu", qd);
        segs = fit - 1;
    }
    if (!segs) fail("segs=0");

    auto* slots = reinterpret_cast<Slot*>(pages.take(slot_pages) * kPage);
    memset(slots, 0, qd * sizeof(Slot));
    for (uint64_t i = 0; i < qd; ++i) {
        uint64_t const g = pages.take(segs);
        for (uint64_t p = 0; p < segs; ++p) slots[i].gfns[p] = g + p;
        slots[i].indirect_gfn = pages.take(1);
    }
    uint32_t const per_req = uint32_t(segs * 8);
    uint64_t const chunks = (total + per_req - 1) / per_req;
    uint32_t* order = nullptr;
    if (random) {
        order = reinterpret_cast<uint32_t*>(pages.take((chunks * 4 + kPage - 1) / kPage) * kPage);
        for (uint64_t i = 0; i < chunks; ++i) order[i] = uint32_t(i);
        lib::Rng rng{seed * 0x9E3779B97F4A7C15ull + 1};
        for (uint64_t i = chunks - 1; i > 0; --i) {
            uint64_t const j = rng.next() % (i + 1);
            uint32_t const t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    console::println("blk: %lu MiB, qd %lu, %lu pages per request (%s), pattern %s, seed %lu", size_mib, qd, segs,
                     segs > BLKIF_MAX_SEGMENTS_PER_REQUEST ? "indirect" : "direct", random ? "random" : "seq", seed);
    running();

    Run run{qs, uint32_t(nq), slots, uint32_t(qd), per_req, seed, timeout};
    uint64_t t0 = time::now_ns();
    run.pass(true, total, order, chunks);
    uint64_t t1 = time::now_ns();
    report("write", total * 512, t1 - t0);
    run.flush();
    uint64_t t2 = time::now_ns();
    report("flush", 0, t2 - t1);
    run.pass(false, total, nullptr, chunks);
    uint64_t t3 = time::now_ns();
    report("read+verify", total * 512, t3 - t2);
    if (random) {
        // Reads in the shuffled order check that responses find their own pages.
        run.pass(false, total, order, chunks);
        report("random read+verify", total * 512, time::now_ns() - t3);
    }
}

namespace {

// blk-loop's one request at a time. A resume in a new domain ends the wait: the request went
// with the old domain's backend, and so did its grants (gnttab::resume freed every ref).
struct LoopIo {
    blkfront::Device& d;
    uint64_t timeout;
    uint64_t generation;
    uint64_t next_id = 1;

    bool moved() const { return control::new_domains() != generation; }

    // The response's status, or 1 if we now run in a new domain.
    int32_t await(uint64_t id) {
        uint64_t const deadline = time::now_ns() + timeout;
        for (;;) {
            if (moved()) return 1;
            blkif_response rsp;
            while (blkfront::take_response(d, &rsp)) {
                if (rsp.id == id) return rsp.status;
                console::println("blk-loop: stray response id %lu", rsp.id);
            }
            uint64_t const now = time::now_ns();
            if (now >= deadline) fail("request %lu: no response within the timeout", id);
            // Short waits: the store (a suspend request) is served between them.
            control::wait(d.port, now + 100'000'000 < deadline ? now + 100'000'000 : deadline);
        }
    }

    int32_t rw(blkfront::Io& io) {
        io.id = next_id++;
        if (long rc = blkfront::submit(d, io); rc < 0) fail("submit: %ld", rc);
        blkfront::push(d);
        int32_t const st = await(io.id);
        if (st == 1) io.nr_refs = 0;   // those refs are free already
        else if (blkfront::complete(io) < 0) fail("the backend still holds a grant of request %lu", io.id);
        return st;
    }

    int32_t flush() {
        uint64_t const id = next_id++;
        if (blkfront::submit_flush(d, id) < 0) fail("no slot for the flush");
        blkfront::push(d);
        return await(id);
    }
};

}  // namespace

void blk_loop() {
    need_xen();
    uint64_t const timeout = timeout_ns(30000);
    if (long rc = control::start(); rc < 0) fail("control: %ld", rc);
    setup_gnttab(4);
    Pages pages;
    pages.init();
    uint64_t const ring_gfn = pages.take(1);
    uint64_t const rounds = opt("rounds", 400), regions = opt("regions", 16), kib = opt("kib", 256);
    if (!rounds || !regions) fail("rounds= and regions= must be at least 1");
    if (!kib || kib % 4 || kib / 4 > blkfront::kMaxPages) fail("kib=%lu: a multiple of 4 up to %u", kib, blkfront::kMaxPages * 4);
    bool const persistent = opt("persistent", 1) != 0;
    blkfront::Device d;
    d.want_persistent = persistent;
    if (long rc = blkfront::connect(d, 0, ring_gfn, timeout); rc < 0) fail("connect: %ld: %s", rc, blkfront::last_error());
    uint64_t const npages = kib / 4, per = kib * 2;
    if (regions * per > d.sectors) fail("%lu regions of %lu KiB: the disk has %lu sectors", regions, kib, d.sectors);
    if (npages > BLKIF_MAX_SEGMENTS_PER_REQUEST && npages > d.max_indirect)
        fail("kib=%lu needs %lu segments; the backend offers %u", kib, npages, d.max_indirect);
    uint64_t gfns[blkfront::kMaxPages];
    uint64_t const first = pages.take(npages), list = pages.take(1);
    for (uint64_t i = 0; i < npages; ++i) gfns[i] = first + i;
    auto* data = reinterpret_cast<uint64_t*>(first * kPage);
    console::println("blk-loop: %lu rounds over %lu regions of %lu KiB", rounds, regions, kib);
    running();

    LoopIo loop{d, timeout, control::new_domains()};
    blkfront::Io io;
    io.gfns = gfns;
    io.indirect_gfns = &list;
    io.nr_sectors = uint32_t(per);
    uint64_t reconnects = 0;
    bool recovered = false;
    for (uint64_t r = 1; r <= rounds;) {
        if (loop.moved()) {
            // A new domain: the toolstack gave it the disk again, with a backend waiting for us.
            d = blkfront::Device{};
            d.want_persistent = persistent;
            if (long rc = blkfront::connect(d, 0, ring_gfn, timeout); rc < 0)
                fail("reconnect after a resume: %ld: %s", rc, blkfront::last_error());
            loop.generation = control::new_domains();
            ++reconnects;
            recovered = true;
            console::println("blk-loop: round %lu: resumed in a new domain, disk connected again", r);
        }
        io.sector = (r % regions) * per;
        io.write = true;
        fill(data, io.sector, io.nr_sectors, r);
        int32_t st = loop.rw(io);
        if (st == 0) st = loop.flush();
        if (st == 1) continue;   // the round again, in the new domain
        if (st != BLKIF_RSP_OKAY) fail("round %lu: status %d", r, st);
        if (r % 25 == 0 || recovered) console::println("blk-loop: round %lu flushed", r);
        recovered = false;
        ++r;
    }
    // Every region holds the last round that wrote it.
    for (uint64_t g = 0; g < regions && g <= rounds; ++g) {
        uint64_t const last = rounds - ((rounds - g) % regions);
        if (last == 0) continue;   // region 0 before round `regions`
        io.sector = g * per;
        io.write = false;
        memset(data, 0, npages * kPage);
        int32_t const st = loop.rw(io);
        if (st == 1) fail("resumed in a new domain during the final check");
        if (st != BLKIF_RSP_OKAY) fail("reading region %lu: status %d", g, st);
        check(data, io.sector, io.nr_sectors, last);
    }
    console::println("blk-loop: %lu rounds flushed and verified, %lu reconnects", rounds, reconnects);
}

namespace {

struct Hostile {
    blkfront::Device& d;
    uint64_t timeout;
    uint64_t next_id = 100;
    unsigned checked = 0;

    int16_t send(blkif_request const& r) {
        auto* slot = blkfront::next_request(d);
        memcpy(slot, &r, sizeof r);
        uint64_t const id = slot->id;
        blkfront::push(d);
        blkif_response rsp;
        uint64_t const deadline = time::now_ns() + timeout;
        for (;;) {
            while (!blkfront::take_response(d, &rsp))
                if (!blkfront::wait(d, deadline)) fail("request %lu (op %u): no response", id, r.operation);
            if (rsp.id == id) return rsp.status;
            console::println("blk-hostile: stray response id %lu", rsp.id);
        }
    }

    void expect(const char* what, blkif_request r, int16_t want) {
        r.id = next_id++;
        int16_t const got = send(r);
        ++checked;
        if (got != want) fail("%s: status %d, want %d", what, got, want);
        if (verbose()) console::println("blk-hostile: %s -> %d", what, got);
    }
};

blkif_request rw(uint8_t op, uint64_t sector, uint8_t nseg, grant_ref_t ref, uint8_t first = 0, uint8_t last = 7) {
    blkif_request r{};
    r.operation = op;
    r.nr_segments = nseg;
    r.sector_number = sector;
    for (unsigned i = 0; i < BLKIF_MAX_SEGMENTS_PER_REQUEST; ++i) r.seg[i] = {ref, first, last};
    return r;
}

blkif_request indirect(uint8_t op, uint64_t sector, uint16_t nseg, grant_ref_t list_ref) {
    blkif_request r{};
    auto* in = reinterpret_cast<blkif_request_indirect*>(&r);
    in->operation = BLKIF_OP_INDIRECT;
    in->indirect_op = op;
    in->nr_segments = nseg;
    in->sector_number = sector;
    in->indirect_grefs[0] = list_ref;
    return r;
}

}  // namespace

void blk_hostile() {
    need_xen();
    uint64_t const timeout = timeout_ns(10000);
    bool const ro = opt("ro", 0) != 0;
    setup_gnttab();
    Pages pages;
    pages.init();
    blkfront::Device d;
    connect(&d, 1, pages, timeout);
    if (ro != ((d.info & VDISK_READONLY) != 0)) fail("ro=%d but the backend's info is %u", ro, d.info);
    running();

    domid_t const be = d.backend_id;
    uint64_t const buf = pages.take(1), list = pages.take(1);
    auto* bytes = reinterpret_cast<uint8_t*>(buf * kPage);
    auto* segs = reinterpret_cast<blkif_request_segment*>(list * kPage);
    long const rw_ref = gnttab::grant_access(be, buf, false), ro_ref = gnttab::grant_access(be, buf, true);
    long const list_ref = gnttab::grant_access(be, list, true);
    if (rw_ref < 0 || ro_ref < 0 || list_ref < 0) fail("grant_access: %ld %ld %ld", rw_ref, ro_ref, list_ref);
    long const gone = gnttab::grant_access(be, pages.take(1), false);
    if (gone < 0 || gnttab::end_access(grant_ref_t(gone)) != 1) fail("grant/end of a spare page");
    grant_ref_t const ref = grant_ref_t(rw_ref);
    Hostile h{d, timeout};

    auto good = [&] {
        memset(bytes, 0xee, kPage);
        h.expect("good read of page 0", rw(BLKIF_OP_READ, 0, 1, ref), BLKIF_RSP_OKAY);
        if (!ro)
            for (unsigned i = 0; i < kPage; ++i)
                if (bytes[i] != 0x5a) fail("page 0 byte %u is 0x%x after our write of 0x5a", i, bytes[i]);
    };
    if (!ro) {
        memset(bytes, 0x5a, kPage);
        h.expect("the legitimate write of page 0", rw(BLKIF_OP_WRITE, 0, 1, grant_ref_t(ro_ref)), BLKIF_RSP_OKAY);
    }
    good();

    uint64_t const end = d.sectors;
    h.expect("read at the last sector + 1", rw(BLKIF_OP_READ, end, 1, ref, 0, 0), BLKIF_RSP_ERROR);
    h.expect("read straddling the end", rw(BLKIF_OP_READ, end - 7, 1, ref), BLKIF_RSP_ERROR);
    h.expect("read at sector 2^63", rw(BLKIF_OP_READ, 1ull << 63, 1, ref), BLKIF_RSP_ERROR);
    h.expect("write straddling the end", rw(BLKIF_OP_WRITE, end - 1, 1, ref), BLKIF_RSP_ERROR);
    h.expect("nr_segments 12", rw(BLKIF_OP_READ, 0, 12, ref), BLKIF_RSP_ERROR);
    h.expect("nr_segments 255", rw(BLKIF_OP_READ, 0, 255, ref), BLKIF_RSP_ERROR);
    h.expect("read with 0 segments", rw(BLKIF_OP_READ, 0, 0, ref), BLKIF_RSP_ERROR);
    h.expect("first_sect > last_sect", rw(BLKIF_OP_READ, 0, 1, ref, 5, 2), BLKIF_RSP_ERROR);
    h.expect("last_sect 8", rw(BLKIF_OP_READ, 0, 1, ref, 0, 8), BLKIF_RSP_ERROR);
    h.expect("first_sect 255", rw(BLKIF_OP_READ, 0, 1, ref, 255, 255), BLKIF_RSP_ERROR);
    h.expect("gref 0xffff00", rw(BLKIF_OP_READ, 0, 1, 0xffff00), BLKIF_RSP_ERROR);
    h.expect("gref of an ended grant", rw(BLKIF_OP_READ, 0, 1, grant_ref_t(gone)), BLKIF_RSP_ERROR);
    h.expect("read into a read-only grant", rw(BLKIF_OP_READ, 0, 1, grant_ref_t(ro_ref)), BLKIF_RSP_ERROR);
    h.expect("write from gref 0xffff00", rw(BLKIF_OP_WRITE, 8, 1, 0xffff00), BLKIF_RSP_ERROR);
    // A bad segment after a good one: nothing of the request may reach the disk.
    {
        auto r = rw(BLKIF_OP_WRITE, 8, 2, ref);
        r.seg[1].gref = 0xffff00;
        h.expect("write whose second segment is bad", r, BLKIF_RSP_ERROR);
    }
    good();

    segs[0] = {ref, 0, 7};
    h.expect("indirect with 0 segments", indirect(BLKIF_OP_READ, 0, 0, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    h.expect("indirect with 257 segments", indirect(BLKIF_OP_READ, 0, 257, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    h.expect("indirect with 65535 segments", indirect(BLKIF_OP_READ, 0, 65535, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    h.expect("indirect list gref 0xffff00", indirect(BLKIF_OP_READ, 0, 1, 0xffff00), BLKIF_RSP_ERROR);
    h.expect("indirect_op 0x77", indirect(0x77, 0, 1, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    h.expect("indirect_op flush", indirect(BLKIF_OP_FLUSH_DISKCACHE, 0, 1, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    lib::Rng rng{0x5eed};
    for (unsigned i = 0; i < 256; ++i) {
        uint64_t const v = rng.next();
        segs[i] = {grant_ref_t(v), uint8_t(v >> 32), uint8_t(v >> 40)};
    }
    h.expect("indirect list of garbage", indirect(BLKIF_OP_WRITE, 0, 256, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    for (unsigned i = 0; i < 256; ++i) segs[i] = {grant_ref_t(rng.next() | 0x10000), 0, 7};
    h.expect("indirect list of garbage grefs", indirect(BLKIF_OP_READ, 0, 256, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    segs[0] = {ref, 3, 1};
    h.expect("indirect segment first > last", indirect(BLKIF_OP_READ, 0, 1, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    segs[0] = {ref, 0, 8};
    h.expect("indirect segment last_sect 8", indirect(BLKIF_OP_READ, 0, 1, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    segs[0] = {ref, 0, 7};
    h.expect("indirect read past the end", indirect(BLKIF_OP_READ, end, 1, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    // The same list, now valid: served.
    memset(bytes, 0xee, kPage);
    h.expect("good indirect read of page 0", indirect(BLKIF_OP_READ, 0, 1, grant_ref_t(list_ref)), BLKIF_RSP_OKAY);
    if (!ro && bytes[0] != 0x5a) fail("indirect read of page 0 gave 0x%x", bytes[0]);

    h.expect("unknown op 0x77", rw(0x77, 0, 1, ref), BLKIF_RSP_EOPNOTSUPP);
    h.expect("write barrier without data", rw(BLKIF_OP_WRITE_BARRIER, 0, 0, ref), BLKIF_RSP_OKAY);
    {
        blkif_request r{};
        auto* dr = reinterpret_cast<blkif_request_discard*>(&r);
        dr->operation = BLKIF_OP_DISCARD;
        dr->sector_number = end - 8;
        dr->nr_sectors = 16;
        h.expect(d.discard ? "discard past the end" : "discard (not offered)", r,
                 d.discard ? BLKIF_RSP_ERROR : BLKIF_RSP_EOPNOTSUPP);
        dr->sector_number = 8;
        dr->nr_sectors = ~0ull;  // sector + nr_sectors wraps to 7
        h.expect(d.discard ? "discard of 2^64-1 sectors" : "discard (not offered)", r,
                 d.discard ? BLKIF_RSP_ERROR : BLKIF_RSP_EOPNOTSUPP);
    }
    if (ro) {
        h.expect("flush with a segment on a read-only disk",
                 rw(BLKIF_OP_FLUSH_DISKCACHE, 0, 1, grant_ref_t(ro_ref)), BLKIF_RSP_ERROR);
        memset(bytes, 0x77, kPage);
        h.expect("write to a read-only disk", rw(BLKIF_OP_WRITE, 0, 1, grant_ref_t(ro_ref)), BLKIF_RSP_ERROR);
        segs[0] = {grant_ref_t(ro_ref), 0, 7};
        h.expect("indirect write to a read-only disk", indirect(BLKIF_OP_WRITE, 0, 1, grant_ref_t(list_ref)), BLKIF_RSP_ERROR);
    }
    good();

    // A producer index a thousand requests ahead: the backend must give up on the ring.
    console::println("blk-hostile: %u requests answered as expected; req_prod now jumps past the ring", h.checked);
    blkfront::push_raw(d, d.req_prod_pvt + 1000);
    uint64_t const deadline = time::now_ns() + timeout;
    long st;
    while ((st = blkfront::backend_state(d)) != XenbusStateClosing && st != XenbusStateClosed) {
        if (time::now_ns() > deadline) fail("the backend stayed in state %ld after req_prod ran past the ring", st);
        evtchn::wait(xenbus::port(), time::now_ns() + 2'000'000);
        xenbus::pump();
    }
    console::println("blk-hostile: backend state %ld", st);
}

}  // namespace minios::tests
