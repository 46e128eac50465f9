// dirty: a ring-3 memory dirtier for live-migration tests. It keeps a working set of guest
// RAM whose every page says what it should hold, rewrites pages at a given rate, and keeps
// checking that what it reads back is what it wrote last; a page a migration failed to carry
// comes back stale or zero and fails the test.
//
//   test=dirty rate=<MB/s> wss=<MiB> [seconds=N] [report_ms=1000] [verify=rolling|full] [seed=N]
//              [idle=spin|block]
//
// Layout: the largest free RAM range above the image (from the memory map, below the 4 GiB
// identity map) holds a generation table (one uint32 per page) and then `wss` MiB of pages.
// Page i at generation g holds 512 words s ^ (k * C), s = mix(i, g, seed): every word is
// non-zero in all but one place and differs from every other page's and generation's.
//
// Writing a page bumps its generation and rewrites all of it, after checking that it still
// holds the previous generation (so every write also verifies a page). The first pass writes
// every page once (generation 1); after it, pages are picked by xorshift64* (with
// replacement, so not every write dirties a new page) and written at `rate` MB/s (10^6 bytes),
// paced by pvclock (kvmclock or the TSC under bare QEMU) in bursts of at most 64 pages, with
// at most 100 ms of debt carried over (the measured rate then shows the shortfall).
//
// Verification: a cursor walks the working set, checking each page against its generation and
// summing mix(i, gen[i]); when it wraps, that sum must equal the running checksum kept as pages
// are written (so a stale generation table is caught too). Per report interval it checks
// ceil(pages / 8) pages (`verify=rolling`, the default: every page at least every 8 reports,
// about 120 MiB read per second for 960 MiB), or all of them (`verify=full`), interleaved
// with the writes while there is time and finished at the report. Each report prints
//   dirty: t=<ms> gen=<writes> rate=<MB/s> verified=<pages> sum=<hex> stall=<ms> ok
// (t from the end of the first pass, gen counting every page write, the first pass included,
// rate measured over the interval, sum the running checksum, stall the longest the loop did
// not run in the interval, see below). After `seconds` one full pass,
// then "KXEN-TEST dirty PASS pages=<n> gen=<writes>" and on_done; without it, forever. Under
// Xen it serves control/shutdown (control.hpp: shutdown, and suspend for save and migration)
// every millisecond. Between bursts it spins (see idle_until).
// A mismatch prints "KXEN-TEST dirty FAIL page <i> expected gen <g> ..." and crashes.
#include "../boot_info.hpp"
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../control.hpp"
#include "../evtchn.hpp"
#include "../fmt.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "../x86.hpp"
#include "../xen.hpp"
#include "test.hpp"

extern "C" char _end[];

namespace minios::tests {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kWords = kPage / 8;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kIdentityTop = 4ull << 30;  // paging.cpp maps 0..4 GiB
constexpr uint64_t kWordStep = 0x9e3779b97f4a7c15ull;
constexpr uint64_t kMaxBurst = 64;
constexpr uint64_t kMaxDebtNs = 100'000'000;
constexpr uint64_t kNsPerMs = 1'000'000;

uint64_t mix(uint64_t i, uint32_t gen, uint64_t seed) {
    uint64_t z = ((i << 32) | gen) ^ (seed * kWordStep);  // splitmix64's finalizer
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct WorkingSet {
    uint64_t npages = 0;
    uint32_t* gen = nullptr;
    uint64_t* pages = nullptr;
    uint64_t seed = 1;
    uint64_t sum = 0;      // sum of mix(i, gen[i]) over all pages
    uint64_t writes = 0;
    uint64_t cursor = 0;   // the verifier's next page
    uint64_t pass_sum = 0; // mix(i, gen[i]) over pages [0, cursor)
    uint64_t passes = 0;

    volatile uint64_t* page(uint64_t i) const { return pages + i * kWords; }

    [[noreturn]] void mismatch(uint64_t i, uint64_t k, uint64_t got) const {
        uint32_t g = gen[i];
        uint64_t want = mix(i, g, seed) ^ (k * kWordStep);
        // Say what the page holds instead, when it is recognisable: the usual failure of a
        // migration is a page left at an older generation, or never sent (zero).
        char what[40] = "unrecognised content";
        if (got == 0) {
            fmt::format(what, sizeof(what), "zero");
        } else {
            for (uint32_t back = 1; back <= 64 && back <= g; ++back) {
                if (got == (mix(i, g - back, seed) ^ (k * kWordStep))) {
                    fmt::format(what, sizeof(what), "content of gen %u", g - back);
                    break;
                }
            }
        }
        fail("page %lu expected gen %u: word %lu at 0x%lx is 0x%lx, want 0x%lx (%s); %lu writes so far", i, g, k,
             uint64_t(page(i) + k), got, want, what, writes);
    }

    void check(uint64_t i) const {
        uint64_t s = mix(i, gen[i], seed);
        volatile uint64_t* p = page(i);
        for (uint64_t k = 0; k < kWords; ++k) {
            uint64_t got = p[k];
            if (got != (s ^ (k * kWordStep))) mismatch(i, k, got);
        }
    }

    void fill(uint64_t i, uint32_t g) {
        gen[i] = g;
        uint64_t s = mix(i, g, seed);
        uint64_t* p = pages + i * kWords;
        for (uint64_t k = 0; k < kWords; ++k) p[k] = s ^ (k * kWordStep);
    }

    void write(uint64_t i) {
        check(i);
        uint32_t g = gen[i];
        uint64_t delta = mix(i, g + 1, seed) - mix(i, g, seed);
        fill(i, g + 1);
        sum += delta;
        if (i < cursor) pass_sum += delta;
        ++writes;
    }

    void verify_next() {
        check(cursor);
        pass_sum += mix(cursor, gen[cursor], seed);
        if (++cursor < npages) return;
        if (pass_sum != sum)
            fail("checksum of a full pass 0x%lx != running checksum 0x%lx (generation table changed under us)",
                 pass_sum, sum);
        cursor = 0;
        pass_sum = 0;
        ++passes;
    }
};

// The largest RAM range above the image and below the identity map's end.
bool free_ram(uint64_t* base, uint64_t* size) {
    auto const& bi = boot_info::info;
    uint64_t const floor = (uint64_t(_end) + kPage - 1) & ~(kPage - 1);
    *size = 0;
    for (uint32_t n = 0; n < bi.memmap_entries; ++n) {
        auto const& e = bi.memmap[n];
        if (e.type != XEN_HVM_MEMMAP_TYPE_RAM) continue;
        uint64_t lo = (e.addr + kPage - 1) & ~(kPage - 1), hi = (e.addr + e.size) & ~(kPage - 1);
        if (lo < floor) lo = floor;
        if (hi > kIdentityTop) hi = kIdentityTop;
        if (lo >= hi || hi - lo <= *size) continue;
        *base = lo;
        *size = hi - lo;
    }
    return *size != 0;
}

// Until `deadline`, or sooner. Spinning is the default, under Xen too: the guest is then the
// same busy workload under every VMM, and one taken away without its cooperation (QEMU's
// migration; a save of a guest that did not get to answer the suspend) never depends on a
// timer event that stayed behind. `idle=block` blocks between bursts instead (Xen only).
// Spinning, it also keeps *stall, the longest gap between two clock reads, up to date.
void idle_until(uint64_t deadline, bool block, uint64_t* stall) {
    uint64_t now = time::now_ns();
    if (deadline <= now) return;
    // Blocking costs a few hypercalls; not worth it for a wait shorter than a millisecond.
    // The timer's port is read afresh: a resume in a new domain binds it again.
    if (long port = timer_port(); block && port >= 0 && deadline - now >= kNsPerMs) {
        control::wait(evtchn_port_t(port), deadline);
        return;
    }
    for (uint64_t prev = now; now < deadline; prev = now) {
        x86::pause();
        now = time::now_ns();
        if (now - prev > *stall) *stall = now - prev;
    }
}

}  // namespace

void dirty() {
    uint64_t rate, wss_mib, seconds, report_ms, seed;
    if (!cmdline::get_u64("rate", 0, &rate) || rate > 100'000) fail("bad rate= (MB/s, at most 100000)");
    if (!cmdline::get_u64("wss", 16, &wss_mib) || !wss_mib) fail("bad wss= (MiB, > 0)");
    if (!cmdline::get_u64("seconds", 0, &seconds)) fail("bad seconds=");
    if (!cmdline::get_u64("report_ms", 1000, &report_ms) || !report_ms) fail("bad report_ms=");
    if (!cmdline::get_u64("seed", 1, &seed)) fail("bad seed=");
    const char* vmode = cmdline::get("verify");
    bool full = false;
    if (vmode && lib::str_eq(vmode, "full")) full = true;
    else if (vmode && !lib::str_eq(vmode, "rolling")) fail("bad verify=%s (rolling|full)", vmode);
    const char* imode = cmdline::get("idle");
    bool const block = imode && lib::str_eq(imode, "block");
    if (imode && !block && !lib::str_eq(imode, "spin")) fail("bad idle=%s (spin|block)", imode);

    WorkingSet ws;
    ws.seed = seed;
    ws.npages = wss_mib * kMiB / kPage;
    uint64_t const table = (ws.npages * sizeof(uint32_t) + kPage - 1) & ~(kPage - 1);
    uint64_t base = 0, avail = 0;
    if (!free_ram(&base, &avail) || table + wss_mib * kMiB > avail)
        fail("wss=%lu MiB does not fit: %lu KiB free above the image (RAM %lu KiB), %lu KiB of it for the "
             "generation table",
             wss_mib, avail >> 10, boot_info::info.ram_bytes >> 10, table >> 10);
    ws.gen = reinterpret_cast<uint32_t*>(base);
    ws.pages = reinterpret_cast<uint64_t*>(base + table);

    running();
    console::println("dirty: wss %lu MiB (%lu pages) at 0x%lx, table at 0x%lx, rate %lu MB/s, %s verification, "
                     "clock %s",
                     wss_mib, ws.npages, base + table, base, rate, full ? "full" : "rolling", time::source());
    uint64_t t0 = time::now_ns();
    for (uint64_t i = 0; i < ws.npages; ++i) {  // RAM is not zero after a reboot: no check here
        ws.fill(i, 1);
        ws.sum += mix(i, 1, seed);
    }
    ws.writes = ws.npages;
    uint64_t const start = time::now_ns();
    console::println("dirty: filled %lu pages in %lu ms", ws.npages, (start - t0) / kNsPerMs);

    if (xen::present()) control::start();  // may run for good: `kxl shutdown` must reach it
    uint64_t const report_ns = report_ms * kNsPerMs;
    uint64_t const page_cost = kPage * 1000;  // credit is in bytes * 1000: ns * MB/s / 1000 bytes
    uint64_t const max_credit = rate * kMaxDebtNs > page_cost * kMaxBurst ? rate * kMaxDebtNs : page_cost * kMaxBurst;
    uint64_t const quota = full ? ws.npages : (ws.npages + 7) / 8;
    uint64_t const end = seconds ? start + seconds * 1'000'000'000 : ~0ull;
    lib::Rng rng{seed * 0x2545f4914f6cdd1dull | 1};
    uint64_t credit = 0, last = start, next_report = start + report_ns;
    uint64_t verified = 0;  // this interval
    uint64_t interval_start = start, interval_writes = 0;
    // The longest time between two turns of the loop (a report's own work not counted): how
    // long the guest was kept from running by the host's scheduler. A migration's stop shows
    // only where the clock runs on through it: QEMU's kvmclock stops with the guest, and a
    // resume after a Xen suspend carries our clock on from the suspend.
    uint64_t turn = start, stall = 0;
    uint64_t next_control = start;

    for (;;) {
        uint64_t now = time::now_ns();
        if (now - turn > stall) stall = now - turn;
        turn = now;
        if (now >= next_control) {
            // A store request (shutdown, or the suspend of a save or migration: its downtime
            // starts when it is written) must not wait for the next report.
            control::poll();
            next_control = time::now_ns() + kNsPerMs;
        }
        credit += (now - last) * rate;
        last = now;
        if (credit > max_credit) credit = max_credit;
        uint64_t burst = 0;
        for (; credit >= page_cost && burst < kMaxBurst; ++burst, credit -= page_cost) ws.write(rng.next() % ws.npages);
        interval_writes += burst;

        if (now >= next_report || now >= end) {
            for (; verified < quota; ++verified) ws.verify_next();
            now = time::now_ns();
            uint64_t dt = now - interval_start;
            uint64_t tenths = dt ? (interval_writes * kPage * 10'000 + dt / 2) / dt : 0;  // bytes/ns * 1000 = MB/s
            uint64_t stall_us = stall / 1000;
            console::println("dirty: t=%lu gen=%lu rate=%lu.%lu verified=%lu sum=%016lx stall=%lu.%03lu ok",
                             (now - start) / kNsPerMs, ws.writes, tenths / 10, tenths % 10, verified, ws.sum,
                             stall_us / 1000, stall_us % 1000);
            if (now >= end) break;
            verified = 0;
            interval_start = now;
            interval_writes = 0;
            stall = 0;
            turn = time::now_ns();
            next_report += report_ns;
            if (next_report <= now) next_report = now + report_ns;  // descheduled for long: no burst of reports
            continue;
        }
        if (burst) continue;
        if (verified < quota) {
            for (uint64_t n = 0; n < 16 && verified < quota; ++n, ++verified) ws.verify_next();
            continue;
        }
        uint64_t wake = next_report < end ? next_report : end;
        if (next_control < wake) wake = next_control;
        if (rate) {
            uint64_t due = now + (page_cost - credit + rate - 1) / rate;
            if (due < wake) wake = due;
        }
        idle_until(wake, block && xen::present(), &stall);
        turn = time::now_ns();  // the wait itself is not a stall
    }

    // A whole pass, which also compares the checksum once.
    for (uint64_t n = 0; n < ws.npages; ++n) ws.verify_next();
    console::println("KXEN-TEST %s PASS pages=%lu gen=%lu sum=%016lx", current(), ws.npages, ws.writes, ws.sum);
    sched::finish(on_done());
}

}  // namespace minios::tests
