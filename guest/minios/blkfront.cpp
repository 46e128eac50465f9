#include "blkfront.hpp"

#include <stdarg.h>

#include "evtchn.hpp"
#include "fmt.hpp"
#include "gnttab.hpp"
#include "lib.hpp"
#include "sched.hpp"
#include "time.hpp"
#include "x86.hpp"
#include "xenbus.hpp"

namespace minios::blkfront {
namespace {

static_assert(sizeof(blkif_request) == 112 && sizeof(union blkif_sring_entry) == 112);
static_assert(__builtin_offsetof(blkif_sring, ring) == 64);
constexpr uint32_t kRingSize = __CONST_RING_SIZE(blkif, 4096);
static_assert(kRingSize == 32);
constexpr unsigned kSegsPerIndirectPage = 4096 / sizeof(blkif_request_segment);

constinit char error[96] = "";

// The persistent grants of the connected device, by gfn (open addressing; gfn 0 is never a
// data page of ours). `generation`: gnttab's when they were made.
struct Pgrant {
    uint64_t gfn;
    grant_ref_t ref;
};
constexpr unsigned kPgrantSlots = 4096;
constexpr unsigned kMaxPgrants = kPgrantSlots / 2;   // more than the grant table has entries
constinit Pgrant pgrants[kPgrantSlots]{};
constinit unsigned nr_pgrants = 0;
constinit uint64_t pgrants_generation = 0;

unsigned pgrant_slot(uint64_t gfn) {
    unsigned i = unsigned((gfn * 0x9E3779B97F4A7C15ull) >> 52) % kPgrantSlots;
    while (pgrants[i].gfn && pgrants[i].gfn != gfn) i = (i + 1) % kPgrantSlots;
    return i;
}

// Ends what an earlier connection granted for good; the backend unmapped it when it let the
// device go. After a resume in a new domain those refs are not ours to end.
void drop_pgrants() {
    if (pgrants_generation == gnttab::generation())
        for (auto& p : pgrants)
            if (p.gfn) (void)gnttab::end_access(p.ref);
    memset(pgrants, 0, sizeof pgrants);
    nr_pgrants = 0;
    pgrants_generation = gnttab::generation();
}

// A grant of page `gfn` for a request: the persistent one (made now), or without
// feature-persistent one of its own, noted in io.refs to be ended with the request. A
// persistent device never gets the latter: the backend cannot tell them apart and may keep
// any grant it sees mapped.
long grant_page(Device& d, Io& io, uint64_t gfn, bool readonly) {
    if (d.persistent && gfn) {
        unsigned const i = pgrant_slot(gfn);
        if (pgrants[i].gfn) return pgrants[i].ref;
        if (nr_pgrants >= kMaxPgrants) return -XEN_ENOSPC;
        long ref = gnttab::grant_access(d.backend_id, gfn, false);
        if (ref < 0) return ref;
        pgrants[i] = {gfn, grant_ref_t(ref)};
        ++nr_pgrants;
        return ref;
    }
    long ref = gnttab::grant_access(d.backend_id, gfn, readonly);
    if (ref >= 0) io.refs[io.nr_refs++] = grant_ref_t(ref);
    return ref;
}

__attribute__((format(printf, 2, 3))) long failed(long rc, const char* f, ...) {
    va_list ap;
    va_start(ap, f);
    fmt::vformat(error, sizeof error, f, ap);
    va_end(ap);
    return rc;
}

uint32_t load(volatile uint32_t const* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void store(volatile uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

long read_u64(const char* dir, const char* key, uint64_t* out) {
    char path[192], buf[32];
    fmt::format(path, sizeof path, "%s/%s", dir, key);
    long rc = xenbus::read(0, path, buf, sizeof buf);
    if (rc < 0) return rc;
    return lib::parse_u64(buf, out) ? 0 : -XEN_EINVAL;
}

long state_of(const char* dir) {
    uint64_t v;
    long rc = read_u64(dir, "state", &v);
    return rc < 0 ? rc : long(v);
}

// Polls the backend's state node; the store port's events (or a 2 ms tick) pace the polls.
long wait_state(Device const& d, long want, uint64_t deadline) {
    for (;;) {
        long st = state_of(d.backend);
        if (st == want) return 0;
        if (st >= XenbusStateClosing) return failed(-XEN_EIO, "backend went to state %ld", st);
        if (time::now_ns() > deadline) return failed(-XEN_ETIMEDOUT, "backend state %ld, never %ld", st, want);
        evtchn::wait(xenbus::port(), time::now_ns() + 2'000'000);
        xenbus::pump();
    }
}

long publish(Device const* qs, unsigned n) {
    Device const& d = qs[0];
    for (unsigned attempt = 0; attempt < 16; ++attempt) {
        uint32_t tx;
        long rc = xenbus::transaction_start(&tx);
        if (rc < 0) return failed(rc, "transaction_start: %s", xenbus::last_error());
        auto put = [&](const char* key, const char* value) {
            char path[128];
            fmt::format(path, sizeof path, "%s/%s", d.frontend, key);
            if (rc >= 0) rc = xenbus::write(tx, path, value);
        };
        char value[16], key[48];
        if (n > 1) {
            fmt::format(value, sizeof value, "%u", n);
            put("multi-queue-num-queues", value);
        }
        for (unsigned q = 0; q < n; ++q) {
            fmt::format(key, sizeof key, n > 1 ? "queue-%u/ring-ref" : "ring-ref", q);
            fmt::format(value, sizeof value, "%u", qs[q].ring_ref);
            put(key, value);
            fmt::format(key, sizeof key, n > 1 ? "queue-%u/event-channel" : "event-channel", q);
            fmt::format(value, sizeof value, "%u", qs[q].port);
            put(key, value);
        }
        put("protocol", XEN_IO_PROTO_ABI_X86_64);
        put("feature-persistent", d.want_persistent ? "1" : "0");
        put("state", "3");
        if (rc < 0) {
            xenbus::transaction_end(tx, false);
            return failed(rc, "writing the frontend nodes: %s", xenbus::last_error());
        }
        rc = xenbus::transaction_end(tx, true);
        if (rc == -XEN_EAGAIN) continue;
        if (rc < 0) return failed(rc, "transaction_end: %s", xenbus::last_error());
        return 0;
    }
    return failed(-XEN_EAGAIN, "%s: the transaction kept conflicting", d.frontend);
}

}  // namespace

const char* last_error() { return error; }

long backend_state(Device const& d) { return state_of(d.backend); }

long connect(Device& d, uint32_t devid, uint64_t ring_gfn, uint64_t timeout_ns) {
    return connect_queues(&d, 1, devid, &ring_gfn, timeout_ns);
}

long connect_queues(Device* qs, unsigned n, uint32_t devid, uint64_t const* ring_gfns, uint64_t timeout_ns) {
    Device& d = qs[0];
    uint64_t const deadline = time::now_ns() + timeout_ns;
    if (!n) return failed(-XEN_EINVAL, "no queues");
    if (!xenbus::ready())
        if (long rc = xenbus::init(); rc < 0) return failed(rc, "xenbus: %s", xenbus::last_error());
    if (!devid) {
        char list[256];
        long rc = xenbus::directory(0, "device/vbd", list, sizeof list);
        if (rc <= 0) return failed(rc < 0 ? rc : -XEN_ENODEV, "no device/vbd (%ld)", rc);
        uint64_t v;
        if (!lib::parse_u64(list, &v)) return failed(-XEN_EINVAL, "device/vbd/%s is no devid", list);
        devid = uint32_t(v);
    }
    fmt::format(d.frontend, sizeof d.frontend, "device/vbd/%u", devid);
    char path[128];
    fmt::format(path, sizeof path, "%s/backend", d.frontend);
    if (long rc = xenbus::read(0, path, d.backend, sizeof d.backend); rc < 0)
        return failed(rc, "%s/backend unreadable", d.frontend);
    uint64_t v = 0;
    if (read_u64(d.frontend, "backend-id", &v) < 0) v = 0;
    d.backend_id = domid_t(v);

    if (long rc = wait_state(d, XenbusStateInitWait, deadline); rc < 0) return rc;
    if (read_u64(d.backend, "sectors", &d.sectors) < 0) return failed(-XEN_EINVAL, "%s/sectors unreadable", d.backend);
    d.sector_size = read_u64(d.backend, "sector-size", &v) < 0 ? 512 : uint32_t(v);
    if (d.sector_size != 512) return failed(-XEN_EINVAL, "sector-size %u, not 512", d.sector_size);
    d.info = read_u64(d.backend, "info", &v) < 0 ? 0 : uint32_t(v);
    d.max_indirect = read_u64(d.backend, "feature-max-indirect-segments", &v) < 0 ? 0 : uint32_t(v);
    d.flush = read_u64(d.backend, "feature-flush-cache", &v) == 0 && v;
    d.discard = read_u64(d.backend, "feature-discard", &v) == 0 && v;
    d.persistent = d.want_persistent && read_u64(d.backend, "feature-persistent", &v) == 0 && v;
    d.max_queues = read_u64(d.backend, "multi-queue-max-queues", &v) < 0 ? 1 : uint32_t(v);
    if (n > 1 && n > d.max_queues) return failed(-XEN_EINVAL, "%u queues; the backend offers %u", n, d.max_queues);
    drop_pgrants();

    for (unsigned q = 0; q < n; ++q) {
        Device& e = qs[q];
        if (q) e = d;   // each queue is a Device of its own that knows the disk as queue 0 does
        e.sring = reinterpret_cast<blkif_sring*>(ring_gfns[q] << 12);
        memset(e.sring, 0, 4096);
        e.sring->req_event = 1;
        e.sring->rsp_event = 1;
        e.req_prod_pvt = e.rsp_cons = 0;
        long ref = gnttab::grant_access(d.backend_id, ring_gfns[q], false);
        if (ref < 0) return failed(ref, "granting the ring page: %ld", ref);
        e.ring_ref = grant_ref_t(ref);
        long port = evtchn::alloc_unbound(d.backend_id);
        if (port < 0) return failed(port, "alloc_unbound(%u): %ld", d.backend_id, port);
        e.port = evtchn_port_t(port);
    }
    if (long rc = publish(qs, n); rc < 0) return rc;
    if (long rc = wait_state(d, XenbusStateConnected, deadline); rc < 0) return rc;
    // As Linux's blkfront once its backend is Connected: the toolstack (xl block-list) shows it.
    fmt::format(path, sizeof path, "%s/state", d.frontend);
    if (long rc = xenbus::write(0, path, "4"); rc < 0) return failed(rc, "%s = 4: %s", path, xenbus::last_error());
    return 0;
}

long release(Device* qs, unsigned n) {
    bool held = false;
    auto end = [&held](grant_ref_t& ref) -> long {
        if (!ref) return 0;
        long const rc = gnttab::end_access(ref);
        if (rc < 0) return failed(rc, "ending grant %u: %ld", ref, rc);
        if (rc == 0) held = true;
        else ref = 0;
        return 0;
    };
    for (unsigned q = 0; q < n; ++q) {
        if (qs[q].port) {
            if (long rc = evtchn::close(qs[q].port); rc < 0) return failed(rc, "closing port %u: %ld", qs[q].port, rc);
            qs[q].port = 0;
        }
        if (long rc = end(qs[q].ring_ref); rc < 0) return rc;
    }
    // After a resume in a new domain the persistent grants were not made in this grant table.
    if (pgrants_generation == gnttab::generation()) {
        for (auto& p : pgrants) {
            if (!p.gfn) continue;
            if (long rc = end(p.ref); rc < 0) return rc;
            if (!p.ref) {
                p.gfn = 0;
                --nr_pgrants;
            }
        }
    }
    return held ? 0 : 1;
}

bool wait_any(Device* qs, unsigned n, uint64_t deadline_ns) {
    for (;;) {
        uint64_t const seen = evtchn::upcalls();
        for (unsigned q = 0; q < n; ++q)
            if (qs[q].rsp_cons != load(&qs[q].sring->rsp_prod) || evtchn::take(qs[q].port)) return true;
        if (time::now_ns() >= deadline_ns) return false;
        sched::timer_by(deadline_ns);
        sched::block_since(seen);
    }
}

uint32_t free_slots(Device const& d) { return kRingSize - (d.req_prod_pvt - d.rsp_cons); }

blkif_request* next_request(Device& d) {
    auto* req = &d.sring->ring[d.req_prod_pvt++ % kRingSize].req;
    memset(req, 0, sizeof *req);
    return req;
}

void push(Device& d) {
    uint32_t const old = load(&d.sring->req_prod);
    uint32_t const now = d.req_prod_pvt;
    store(&d.sring->req_prod, now);
    x86::mb();  // the backend sees the new index before we read its req_event
    uint32_t const event = load(&d.sring->req_event);
    if (uint32_t(now - event) < uint32_t(now - old)) evtchn::send(d.port);
}

void push_raw(Device& d, uint32_t req_prod) {
    store(&d.sring->req_prod, req_prod);
    x86::mb();
    evtchn::send(d.port);
}

bool take_response(Device& d, blkif_response* out) {
    for (;;) {
        if (d.rsp_cons != load(&d.sring->rsp_prod)) {
            memcpy(out, &d.sring->ring[d.rsp_cons++ % kRingSize].rsp, sizeof *out);
            return true;
        }
        // RING_FINAL_CHECK_FOR_RESPONSES: ask for an event at the next response, then look once more.
        store(&d.sring->rsp_event, d.rsp_cons + 1);
        x86::mb();
        if (d.rsp_cons == load(&d.sring->rsp_prod)) return false;
    }
}

bool wait(Device& d, uint64_t deadline_ns) {
    if (d.rsp_cons != load(&d.sring->rsp_prod)) return true;
    return evtchn::wait(d.port, deadline_ns);
}

long submit(Device& d, Io& io) {
    if (!free_slots(d)) return -XEN_EBUSY;
    uint32_t const pages = (io.nr_sectors + 7) / 8;
    bool const indirect = pages > BLKIF_MAX_SEGMENTS_PER_REQUEST;
    if (!pages || pages > kMaxPages || (indirect && (pages > d.max_indirect || !io.indirect_gfns))) return -XEN_EINVAL;
    io.nr_refs = 0;
    auto release = [&io](long rc) {
        complete(io);
        return rc;
    };
    blkif_request_segment* list = nullptr;
    blkif_request_segment direct[BLKIF_MAX_SEGMENTS_PER_REQUEST];
    grant_ref_t list_refs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    uint32_t const lists = indirect ? (pages + kSegsPerIndirectPage - 1) / kSegsPerIndirectPage : 0;
    for (uint32_t i = 0; i < lists; ++i) {
        long ref = grant_page(d, io, io.indirect_gfns[i], true);
        if (ref < 0) return release(ref);
        list_refs[i] = grant_ref_t(ref);
    }
    if (!indirect) list = direct;
    uint32_t left = io.nr_sectors;
    for (uint32_t i = 0; i < pages; ++i) {
        // The backend only reads a write's pages.
        long ref = grant_page(d, io, io.gfns[i], io.write);
        if (ref < 0) return release(ref);
        uint8_t const n = uint8_t(left < 8 ? left : 8);
        left -= n;
        blkif_request_segment seg{grant_ref_t(ref), 0, uint8_t(n - 1)};
        if (list) list[i] = seg;
        else reinterpret_cast<blkif_request_segment*>(io.indirect_gfns[i / kSegsPerIndirectPage] << 12)[i % kSegsPerIndirectPage] = seg;
    }
    if (!indirect) {
        auto* req = next_request(d);
        req->operation = io.write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
        req->nr_segments = uint8_t(pages);
        req->handle = 0;
        req->id = io.id;
        req->sector_number = io.sector;
        memcpy(req->seg, direct, pages * sizeof direct[0]);
    } else {
        auto* req = reinterpret_cast<blkif_request_indirect*>(next_request(d));
        req->operation = BLKIF_OP_INDIRECT;
        req->indirect_op = io.write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
        req->nr_segments = uint16_t(pages);
        req->id = io.id;
        req->sector_number = io.sector;
        req->handle = 0;
        for (uint32_t i = 0; i < lists; ++i) req->indirect_grefs[i] = list_refs[i];
    }
    return 0;
}

long submit_flush(Device& d, uint64_t id) {
    if (!free_slots(d)) return -XEN_EBUSY;
    auto* req = next_request(d);
    req->operation = BLKIF_OP_FLUSH_DISKCACHE;
    req->nr_segments = 0;
    req->id = id;
    req->sector_number = 0;
    return 0;
}

long complete(Io& io) {
    long rc = 0;
    for (uint32_t i = 0; i < io.nr_refs; ++i)
        if (gnttab::end_access(io.refs[i]) != 1) rc = -XEN_EBUSY;
    io.nr_refs = 0;
    return rc;
}

}  // namespace minios::blkfront
