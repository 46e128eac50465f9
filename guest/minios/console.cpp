#include "console.hpp"

#include <stdarg.h>

#include "bare.hpp"
#include "evtchn.hpp"
#include "fmt.hpp"
#include "hypercall.hpp"
#include "lib.hpp"
#include "sched.hpp"
#include "time.hpp"
#include "x86.hpp"
#include "xen.hpp"

namespace minios::console {
namespace {

// How long a full ring may sit unconsumed before the backend counts as absent.
constexpr uint64_t kStallNs = 1'000'000'000;

constinit volatile xencons_interface* ring = nullptr;
constinit evtchn_port_t port = 0;
constinit bool abandoned = false;
constinit bool detached = false;  // suspended: the port may not be ours
constinit bool waiting = false;   // a waiter has the port unmasked (a suspend may come meanwhile)
constinit bool probed = false;  // the backend has shown it is there (or been given up on)

void io_write(const char* s, size_t n) { xen::console_io(CONSOLEIO_write, n, s); }

// Waits until out_cons differs from `cons` (true) or the deadline passes. Ring 0 (a fatal
// trap's report) runs with IF=0 and cannot take events: it spins.
bool wait_consumed(XENCONS_RING_IDX cons, uint64_t deadline) {
    if (x86::cpl() == 0) {
        while (time::now_ns() < deadline) {
            if (ring->out_cons != cons) return true;
            x86::pause();
        }
        return ring->out_cons != cons;
    }
    evtchn::unmask(port);
    waiting = true;
    bool moved = false;
    for (;;) {
        uint64_t seen = evtchn::upcalls();
        evtchn::take(port);
        if ((moved = ring->out_cons != cons) || time::now_ns() >= deadline) break;
        sched::timer_by(deadline);
        sched::block_since(seen);
    }
    waiting = false;
    evtchn::mask(port);
    evtchn::take(port);
    return moved;
}

// The backend is not there (or broke the ring): say so, write again what it left unread,
// and use console_io from now on.
void abandon(const char* why) {
    abandoned = true;
    XENCONS_RING_IDX cons = ring->out_cons, prod = ring->out_prod;
    char note[128];
    size_t n = fmt::format(note, sizeof(note), "console: %s; ring output continues through console_io\n", why);
    io_write(note, n);
    if (prod - cons > sizeof(ring->out)) return;
    char chunk[256];
    while (cons != prod) {
        size_t k = 0;
        while (k < sizeof(chunk) && cons != prod) chunk[k++] = ring->out[MASK_XENCONS_IDX(cons++, ring->out)];
        io_write(chunk, k);
    }
}

void ring_write(const char* s, size_t n) {
    uint64_t stall_since = 0;
    while (n) {
        XENCONS_RING_IDX cons = ring->out_cons, prod = ring->out_prod;
        x86::mb();  // the indexes before the bytes (Mini-OS's xencons_ring_send)
        if (prod - cons > sizeof(ring->out)) {
            abandon("the backend broke the ring indexes");
            io_write(s, n);
            return;
        }
        size_t room = sizeof(ring->out) - (prod - cons);
        if (!room) {
            evtchn::send(port);
            uint64_t now = time::now_ns();
            if (!stall_since) stall_since = now;
            if (!wait_consumed(cons, stall_since + kStallNs)) {
                abandon("the backend consumed nothing for 1 s");
                io_write(s, n);
                return;
            }
            stall_since = 0;
            continue;
        }
        size_t k = n < room ? n : room;
        for (size_t i = 0; i < k; ++i) ring->out[MASK_XENCONS_IDX(prod + XENCONS_RING_IDX(i), ring->out)] = s[i];
        x86::barrier();  // x86 keeps stores in order: the bytes before the index
        ring->out_prod = prod + XENCONS_RING_IDX(k);
        s += k;
        n -= k;
    }
    evtchn::send(port);
}

}  // namespace

void write(const char* s, size_t n) {
    if (!xen::present()) {
        bare::serial_write(s, n);
    } else if (ring_active()) {
        ring_write(s, n);
        // The first output decides whether a backend is there at all: a guest that then
        // goes quiet (idles, stays) would otherwise keep its lines in the ring unseen.
        if (!probed) {
            probed = true;
            flush(kStallNs);
        }
    } else {
        io_write(s, n);
    }
}

void println(const char* f, ...) {
    char line[256];
    va_list ap;
    va_start(ap, f);
    size_t n = fmt::vformat(line, sizeof(line) - 1, f, ap);
    va_end(ap);
    line[n++] = '\n';
    write(line, n);
}

bool init_ring() {
    uint64_t pfn = 0, evtchn = 0;
    if (xen::get_param(HVM_PARAM_CONSOLE_PFN, &pfn) < 0 || xen::get_param(HVM_PARAM_CONSOLE_EVTCHN, &evtchn) < 0)
        return false;
    // The identity map covers 4 GiB: the special pages sit below it.
    if (!pfn || !evtchn || pfn >= (uint64_t{1} << 20) || evtchn >= evtchn::kMaxPorts) return false;
    if (evtchn::adopt(evtchn_port_t(evtchn)) < 0) return false;
    port = evtchn_port_t(evtchn);
    ring = reinterpret_cast<volatile xencons_interface*>(pfn << 12);
    return true;
}

void suspend() {
    flush();
    detached = true;
}

void resume(bool new_domain) {
    detached = false;
    if (!new_domain || !ring || abandoned) return;
    if (init_ring()) {
        if (waiting) evtchn::unmask(port);
    } else {
        abandoned = true;  // no console ring in the new domain: console_io carries on
    }
}

bool ring_active() { return ring && !abandoned && !detached; }
long ring_port() { return ring ? long(port) : -1; }

const char* sink() {
    if (!xen::present()) return "serial";
    return ring_active() ? "ring" : "console_io";
}

void flush(uint64_t timeout_ns) {
    if (!xen::present() || !ring_active()) return;
    uint64_t deadline = time::now_ns() + timeout_ns;
    for (;;) {
        XENCONS_RING_IDX cons = ring->out_cons, prod = ring->out_prod;
        if (cons == prod) return;
        if (prod - cons > sizeof(ring->out)) return abandon("the backend broke the ring indexes");
        evtchn::send(port);
        if (!wait_consumed(cons, deadline) && time::now_ns() >= deadline)
            return abandon("the backend did not take the output in time");
    }
}

size_t read(char* buf, size_t cap) {
    if (!ring || !xen::present()) return 0;
    XENCONS_RING_IDX cons = ring->in_cons, prod = ring->in_prod;
    x86::barrier();  // the index before the bytes it covers (x86 keeps loads in order)
    if (prod - cons > sizeof(ring->in)) {
        // Garbage from the backend: drop what it claims is there rather than read it.
        ring->in_cons = prod;
        evtchn::send(port);
        return 0;
    }
    size_t n = prod - cons;
    if (n > cap) n = cap;
    for (size_t i = 0; i < n; ++i) buf[i] = ring->in[MASK_XENCONS_IDX(cons + XENCONS_RING_IDX(i), ring->in)];
    if (!n) return 0;
    x86::mb();  // done reading before the backend may reuse the space
    ring->in_cons = cons + XENCONS_RING_IDX(n);
    evtchn::send(port);
    return n;
}

bool wait_input(uint64_t deadline_ns, void (*idle)()) {
    if (!ring || !xen::present()) return false;
    evtchn::unmask(port);
    waiting = true;
    bool got = false;
    for (;;) {
        uint64_t seen = evtchn::upcalls();
        evtchn::take(port);
        if ((got = ring->in_prod != ring->in_cons) || time::now_ns() >= deadline_ns) break;
        if (idle) idle();
        sched::timer_by(deadline_ns);
        sched::block_since(seen);
    }
    waiting = false;
    evtchn::mask(port);
    evtchn::take(port);
    return got;
}

}  // namespace minios::console
