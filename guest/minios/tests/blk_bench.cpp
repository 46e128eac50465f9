// blk-bench: the PV disk's request rate and throughput as minios sees them, for
// bench/run_blk_fio.sh.
//
//   test=blk-bench [rw=read|write] [pattern=seq|random] [kib=4..1024] [qd=1..32] [seconds=N]
//                  [size=<MiB>] [persistent=0|1] [seed=N]
// keeps `qd` requests of `kib` KiB (4, random, 1, 5 s by default) in flight over the first
// `size` MiB of the disk (all of it by default) for `seconds`. Sequential requests go one after
// the other and wrap at the end of the span; random ones start at `kib`-aligned offsets drawn
// from `seed`. Requests of more than 11 pages are indirect. Nothing is filled or checked:
// what is measured is the ring, the grants and the backend, not the guest's own loops. Each
// slot's first request is untimed (with persistent grants, that is when the backend maps its
// pages). Then one line, the rates from the guest's clock (kbps: 1000 bytes/s; persistent:
// whether both sides agreed on it):
//   blk-bench: rw=read pattern=random kib=4 qd=32 persistent=1 ios=N bytes=N ms=N iops=N kbps=N
#include "../blkfront.hpp"
#include "blk_common.hpp"
#include "../boot_info.hpp"
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../gnttab.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

using namespace blk_common;

// Either of two words, or the first when absent.
bool arg_is_second(const char* key, const char* first, const char* second) {
    const char* v = cmdline::get(key);
    if (!v || lib::str_eq(v, first)) return false;
    if (lib::str_eq(v, second)) return true;
    fail("bad %s=%s (%s|%s)", key, v, first, second);
}

struct Slot {
    blkfront::Io io;
    uint64_t gfns[blkfront::kMaxPages];
    uint64_t list_gfn;
};

}  // namespace

void blk_bench() {
    need_xen();
    uint64_t const timeout = timeout_ns(30000);
    bool const write = arg_is_second("rw", "read", "write");
    bool const random = !arg_is_second("pattern", "random", "seq");
    uint64_t const kib = opt("kib", 4), qd = opt("qd", 1), seconds = opt("seconds", 5), seed = opt("seed", 1);
    if (kib < 4 || kib % 4 || kib / 4 > blkfront::kMaxPages) fail("kib=%lu: a multiple of 4 from 4 to %u", kib, blkfront::kMaxPages * 4);
    if (!qd || qd > 32) fail("qd=%lu: 1..32", qd);
    if (!seconds) fail("seconds=0");
    setup_gnttab(gnttab::kMaxFrames);

    Pages free_pages;
    free_pages.init();
    auto take = [&](uint64_t n) { return free_pages.take(n); };

    blkfront::Device d;
    d.want_persistent = opt("persistent", 1) != 0;
    if (long rc = blkfront::connect(d, 0, take(1), timeout); rc < 0) fail("connect: %ld: %s", rc, blkfront::last_error());
    uint64_t const pages = kib / 4, per_req = kib * 2;
    bool const indirect = pages > BLKIF_MAX_SEGMENTS_PER_REQUEST;
    if (indirect && pages > d.max_indirect) fail("kib=%lu needs %lu segments; the backend offers %u", kib, pages, d.max_indirect);
    // Every page in flight holds a grant (with persistent grants, for good), and so does the ring.
    uint64_t const grants = qd * (pages + (indirect ? 1 : 0)) + 1;
    if (grants > gnttab::nr_entries() - GNTTAB_NR_RESERVED_ENTRIES)
        fail("qd=%lu x kib=%lu needs %lu grant entries; the table has %u", qd, kib, grants,
             gnttab::nr_entries() - GNTTAB_NR_RESERVED_ENTRIES);
    uint64_t const span = opt("size", d.sectors / 2048) * 2048;
    uint64_t const chunks = span / per_req;
    if (!chunks || span > d.sectors) fail("size=%lu MiB: the disk has %lu sectors", span / 2048, d.sectors);

    auto* slots = reinterpret_cast<Slot*>(take((qd * sizeof(Slot) + kPage - 1) / kPage) * kPage);
    for (uint64_t i = 0; i < qd; ++i) {
        Slot& s = slots[i];
        memset(&s, 0, sizeof s);
        uint64_t const g = take(pages);
        for (uint64_t p = 0; p < pages; ++p) s.gfns[p] = g + p;
        s.list_gfn = take(1);
        s.io.id = i;
        s.io.nr_sectors = uint32_t(per_req);
        s.io.write = write;
        s.io.gfns = s.gfns;
        s.io.indirect_gfns = &s.list_gfn;
        // Once, untimed: so that what the guest writes keeps the image non-zero for the reads after.
        if (write) memset(reinterpret_cast<void*>(g * kPage), 0xa5, pages * kPage);
    }
    console::println("blk-bench: %s -> %s: %lu sectors, indirect %u, persistent grants %d; %lu MiB span, %s requests",
                     d.frontend, d.backend, d.sectors, d.max_indirect, d.persistent, span / 2048,
                     indirect ? "indirect" : "direct");
    running();

    lib::Rng rng{seed * 0x9E3779B97F4A7C15ull + 1};
    uint64_t next_chunk = 0;
    auto submit = [&](Slot& s) {
        s.io.sector = (random ? rng.next() % chunks : next_chunk++ % chunks) * per_req;
        if (long rc = blkfront::submit(d, s.io); rc < 0) fail("submit: %ld", rc);
    };
    // Until nothing is in flight; each response's slot goes out again while `more` says so.
    uint64_t done = 0;
    auto drain = [&](auto more) {
        uint64_t busy = qd;
        while (busy) {
            blkif_response rsp;
            while (blkfront::take_response(d, &rsp)) {
                if (rsp.id >= qd) fail("response with unknown id %lu", rsp.id);
                Slot& s = slots[rsp.id];
                if (rsp.status != BLKIF_RSP_OKAY)
                    fail("%s of sectors %lu+%u: status %d", write ? "write" : "read", s.io.sector, s.io.nr_sectors, rsp.status);
                if (blkfront::complete(s.io) < 0) fail("the backend still holds a grant of request %lu", rsp.id);
                ++done;
                if (more()) submit(s);
                else --busy;
            }
            blkfront::push(d);
            if (busy && !blkfront::wait(d, time::now_ns() + timeout)) fail("no response within the timeout (%lu in flight)", busy);
        }
    };

    for (uint64_t i = 0; i < qd; ++i) submit(slots[i]);
    blkfront::push(d);
    drain([] { return false; });

    done = 0;
    uint64_t const t0 = time::now_ns(), stop = t0 + seconds * 1'000'000'000;
    for (uint64_t i = 0; i < qd; ++i) submit(slots[i]);
    blkfront::push(d);
    drain([&] { return time::now_ns() < stop; });
    uint64_t const ns = time::now_ns() - t0, bytes = done * kib * 1024;
    console::println("blk-bench: rw=%s pattern=%s kib=%lu qd=%lu persistent=%d ios=%lu bytes=%lu ms=%lu iops=%lu kbps=%lu",
                     write ? "write" : "read", random ? "random" : "seq", kib, qd, d.persistent, done, bytes,
                     ns / 1'000'000, done * 1'000'000'000 / ns, bytes * 1'000'000 / ns);
}

}  // namespace minios::tests
