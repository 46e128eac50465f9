// blk-reattach: a vbd unplugged and plugged again while the guest runs (kxl block-detach,
// then kxl block-attach), the frontend's part in libxl's device removal played as Linux's
// blkfront plays it.
//
//   test=blk-reattach [size=<MiB>] [seed=N] [timeout_ms=N]
// connects to the first device/vbd, writes `size` (4) MiB from sector 0 in blk's pattern (the
// host checks the image with the same function), flushes, reads it back and checks it, and
// prints "blk-reattach: idle, detach me". Then it waits, serving control/shutdown, until the
// backend goes Closing; it closes the frontend (Closing, Closed), ends its grants once the
// backend has let go of them, closes the event channel and prints "blk-reattach: detached".
// Once the toolstack has written the device again (its frontend state back at Initialising)
// it connects again and reads and checks the data it wrote before.
#include "../blkfront.hpp"
#include "../console.hpp"
#include "../control.hpp"
#include "../fmt.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "../xenbus.hpp"
#include "blk_common.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {
namespace {

using blk_common::kPage;
// Direct requests only: one request's pages, no segment-list page.
constexpr uint32_t kSegs = BLKIF_MAX_SEGMENTS_PER_REQUEST;
constexpr const char* kToken = "blk-reattach";

// The ring page, and one request's data pages (contiguous).
struct Buffers {
    uint64_t ring;
    uint64_t data[kSegs];
};

Buffers take_buffers() {
    blk_common::Pages pages;
    pages.init();
    Buffers b;
    b.ring = pages.take(1);
    uint64_t const first = pages.take(kSegs);
    for (uint32_t i = 0; i < kSegs; ++i) b.data[i] = first + i;
    return b;
}

// blk's pattern (tests/blk.cpp, tests/integration/blk_image.hpp): 8-byte word w of sector s is
// s * 0x9E3779B97F4A7C15 ^ w ^ seed.
void fill(uint64_t* p, uint64_t sector, uint32_t n, uint64_t seed) {
    for (uint32_t i = 0; i < n; ++i, ++sector)
        for (uint64_t w = 0; w < 64; ++w) *p++ = (sector * 0x9E3779B97F4A7C15ull) ^ w ^ seed;
}

void check(uint64_t const* p, uint64_t sector, uint32_t n, uint64_t seed, const char* when) {
    for (uint32_t i = 0; i < n; ++i, ++sector)
        for (uint64_t w = 0; w < 64; ++w, ++p) {
            uint64_t const want = (sector * 0x9E3779B97F4A7C15ull) ^ w ^ seed;
            if (*p != want) fail("%s: sector %lu word %lu: read 0x%lx, wrote 0x%lx", when, sector, w, *p, want);
        }
}

void await(blkfront::Device& d, blkif_response* rsp, uint64_t timeout, const char* what) {
    uint64_t const deadline = time::now_ns() + timeout;
    while (!blkfront::take_response(d, rsp))
        if (!blkfront::wait(d, deadline)) fail("%s: no response within the timeout", what);
}

// The one request in flight; static for its grant arrays.
constinit blkfront::Io req{};

void transfer(blkfront::Device& d, Buffers const& p, bool write, uint64_t sector, uint32_t n, uint64_t timeout) {
    req = {};
    req.id = sector;
    req.sector = sector;
    req.nr_sectors = n;
    req.write = write;
    req.gfns = p.data;
    if (long rc = blkfront::submit(d, req); rc < 0) fail("submit: %ld", rc);
    blkfront::push(d);
    blkif_response rsp;
    await(d, &rsp, timeout, write ? "write" : "read");
    if (blkfront::complete(req) < 0) fail("the backend still holds a grant of sectors %lu+%u", sector, n);
    if (rsp.id != sector || rsp.status != BLKIF_RSP_OKAY)
        fail("%s of sectors %lu+%u: id %lu status %d", write ? "write" : "read", sector, n, rsp.id, rsp.status);
}

void flush(blkfront::Device& d, uint64_t timeout) {
    if (!d.flush) return;
    if (blkfront::submit_flush(d, ~0ull) < 0) fail("no slot for the flush");
    blkfront::push(d);
    blkif_response rsp;
    await(d, &rsp, timeout, "flush");
    if (rsp.id != ~0ull || rsp.status != BLKIF_RSP_OKAY) fail("flush: id %lu status %d", rsp.id, rsp.status);
}

// Reads sectors [0, total) back and checks them against the pattern.
void verify(blkfront::Device& d, Buffers const& p, uint64_t total, uint64_t seed, uint64_t timeout, const char* when) {
    auto const* data = reinterpret_cast<uint64_t const*>(p.data[0] * kPage);
    for (uint64_t s = 0; s < total; s += kSegs * 8) {
        uint32_t const n = uint32_t(total - s < kSegs * 8 ? total - s : kSegs * 8);
        transfer(d, p, false, s, n, timeout);
        check(data, s, n, seed, when);
    }
}

void connect(blkfront::Device& d, uint32_t devid, Buffers const& p, uint64_t timeout) {
    d = {};
    if (long rc = blkfront::connect(d, devid, p.ring, timeout); rc < 0) fail("connect: %ld: %s", rc, blkfront::last_error());
    console::println("blk-reattach: %s -> %s: %lu sectors, port %u, ring-ref %u", d.frontend, d.backend, d.sectors,
                     d.port, d.ring_ref);
}

long read_state(const char* dir) {
    char path[192], buf[16];
    fmt::format(path, sizeof path, "%s/state", dir);
    uint64_t v;
    if (xenbus::read(0, path, buf, sizeof buf) < 0 || !lib::parse_u64(buf, &v)) return -1;
    return long(v);
}

void write_state(blkfront::Device const& d, long state) {
    char path[96], value[8];
    fmt::format(path, sizeof path, "%s/state", d.frontend);
    fmt::format(value, sizeof value, "%ld", state);
    if (long rc = xenbus::write(0, path, value); rc < 0) fail("writing %s = %s: %ld", path, value, rc);
}

// Waits until `done()`, serving control/shutdown meanwhile. Our watches' events wake us; a
// 50 ms tick looks again in case one was missed (events for a node that was removed are not
// always sent).
template <typename F> void wait_for(F done) {
    for (;;) {
        control::poll();
        xenbus::Event e;
        while (xenbus::next_event(kToken, &e)) {
        }
        if (done()) return;
        control::wait(xenbus::port(), time::now_ns() + 50'000'000);
    }
}

}  // namespace

void blk_reattach() {
    need_xen();
    uint64_t const timeout = timeout_ns(30000);
    uint64_t const size_mib = blk_common::opt("size", 4), seed = blk_common::opt("seed", 1);
    if (!size_mib) fail("bad size=0");
    setup_gnttab();
    if (long rc = control::start(); rc < 0) fail("no store: %ld", rc);
    Buffers const p = take_buffers();

    blkfront::Device d;
    connect(d, 0, p, timeout);
    uint64_t devid;
    if (!lib::parse_u64(d.frontend + 11, &devid)) fail("%s: no devid", d.frontend);  // "device/vbd/<devid>"
    uint64_t const total = size_mib * 2048;
    if (total > d.sectors) fail("size=%lu MiB: the disk has %lu sectors", size_mib, d.sectors);
    running();

    auto* data = reinterpret_cast<uint64_t*>(p.data[0] * kPage);
    for (uint64_t s = 0; s < total; s += kSegs * 8) {
        uint32_t const n = uint32_t(total - s < kSegs * 8 ? total - s : kSegs * 8);
        fill(data, s, n, seed);
        transfer(d, p, true, s, n, timeout);
    }
    flush(d, timeout);
    verify(d, p, total, seed, timeout, "before the detach");
    console::println("blk-reattach: %lu MiB written and read back", size_mib);

    char backend[sizeof d.backend];
    memcpy(backend, d.backend, sizeof backend);
    char backend_state[sizeof backend + 8];
    fmt::format(backend_state, sizeof backend_state, "%s/state", backend);
    if (long rc = xenbus::watch(backend_state, kToken); rc < 0) fail("watching %s: %ld", backend_state, rc);
    if (long rc = xenbus::watch(d.frontend, kToken); rc < 0) fail("watching %s: %ld", d.frontend, rc);
    console::println("blk-reattach: idle, detach me");
    wait_for([&] {
        long const st = read_state(backend);
        return st < 0 || st >= XenbusStateClosing;
    });

    // As Linux's blkfront when its backend goes Closing: close, then give back the ring and
    // the grants. The backend unmaps them when it sees us close; until then they stay in use.
    // A forced detach has removed our half already: nothing to tell.
    console::println("blk-reattach: backend state %ld, closing", read_state(backend));
    if (read_state(d.frontend) >= 0) {
        write_state(d, XenbusStateClosing);
        write_state(d, XenbusStateClosed);
    }
    uint64_t const deadline = time::now_ns() + timeout;
    wait_for([&] {
        long const rc = blkfront::release(&d, 1);
        if (rc < 0) fail("release: %s", blkfront::last_error());
        if (rc == 0 && time::now_ns() > deadline) fail("the backend still holds a grant after we closed");
        return rc == 1;
    });
    memset(reinterpret_cast<void*>(p.ring * kPage), 0, kPage);
    console::println("blk-reattach: detached");

    // Ours was left Closed (or removed): Initialising is the toolstack's new device.
    wait_for([&] { return read_state(d.frontend) == XenbusStateInitialising; });
    console::println("blk-reattach: %s is back", d.frontend);
    connect(d, uint32_t(devid), p, timeout);
    verify(d, p, total, seed, timeout, "after the re-attach");
    console::println("blk-reattach: %lu MiB read back after the re-attach", size_mib);
}

}  // namespace minios::tests
