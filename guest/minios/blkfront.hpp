// minios::blkfront: a PV block frontend (io/blkif.h) for one vbd: the xenbus handshake
// (backend InitWait -> our ring-ref/event-channel/protocol and Initialised -> backend
// Connected -> we say Connected), one ring page in the native x86_64 layout, and requests
// whose data pages are granted to the backend for the request's lifetime only.
//
// With feature-persistent (both sides offer it; `want_persistent` false keeps it off), data
// and segment-list pages are granted once, read-write, and the grants kept for as long as the
// device is connected: the backend may keep any of them mapped (it copies what it does not).
//
// Two levels: Ring gives the raw slots (the hostile test writes whatever it likes into
// them), and Io/submit/complete build proper read/write requests, direct up to
// BLKIF_MAX_SEGMENTS_PER_REQUEST pages and indirect beyond, for callers that keep
// several in flight and match responses by id.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "xen_abi.hpp"
#include <xen/io/blkif.h>
#include <xen/io/protocols.h>
#include <xen/io/xenbus.h>

namespace minios::blkfront {

struct Device {
    char frontend[64];        // device/vbd/<devid>
    char backend[128];
    domid_t backend_id = 0;
    uint64_t sectors = 0;
    uint32_t sector_size = 0;
    uint32_t info = 0;              // VDISK_* bits
    uint32_t max_indirect = 0;      // feature-max-indirect-segments (0: none)
    bool flush = false;             // feature-flush-cache
    bool discard = false;           // feature-discard
    uint32_t max_queues = 1;        // multi-queue-max-queues
    bool want_persistent = true;    // offer feature-persistent
    bool persistent = false;        // both offered it

    blkif_sring* sring = nullptr;   // our page, identity-mapped
    grant_ref_t ring_ref = 0;
    evtchn_port_t port = 0;
    uint32_t req_prod_pvt = 0;
    uint32_t rsp_cons = 0;
};

// devid 0: the first entry under device/vbd. `ring_gfn`: a free page of ours for the ring.
// 0 or a negative Xen errno; last_error() says which step failed.
long connect(Device& d, uint32_t devid, uint64_t ring_gfn, uint64_t timeout_ns);
// Multi-queue: `n` rings (up to the backend's multi-queue-max-queues), qs[i] on page
// ring_gfns[i]; each is a Device of its own for requests (qs[0]'s settings, e.g.
// want_persistent, count for all). n == 1 is connect().
long connect_queues(Device* qs, unsigned n, uint32_t devid, uint64_t const* ring_gfns, uint64_t timeout_ns);
// Gives back what connect_queues() set up, as Linux's blkfront does once it has closed: the
// event channels close, the rings' and the persistent grants end. The backend unmaps them when
// it sees us close, so a grant may still be in use: 1 once all is given back, 0 while the
// backend still holds a grant (call again), < 0 on an error (last_error() says which).
long release(Device* qs, unsigned n);
// Waits until any of the queues has a response or an event, or until deadline_ns.
bool wait_any(Device* qs, unsigned n, uint64_t deadline_ns);
const char* last_error();
// The backend's state node (XenbusState*), or < 0.
long backend_state(Device const& d);

// Raw ring access. Slots the caller may fill now (responses outstanding count against it).
uint32_t free_slots(Device const& d);
// The next request slot; fill it, then push().
blkif_request* next_request(Device& d);
// Publishes the requests filled since the last push; notifies if the backend asked.
void push(Device& d);
// Publishes req_prod = value as is (a hostile frontend's index), and notifies.
void push_raw(Device& d, uint32_t req_prod);
// One response if there is one (consumed); re-arms rsp_event when the ring is empty.
bool take_response(Device& d, blkif_response* out);
// Waits for the backend's event, or until deadline_ns (pvclock): false on timeout.
bool wait(Device& d, uint64_t deadline_ns);

// One read or write of `nr_sectors` sectors between `sector` on the disk and our pages
// `gfns[0..]` (8 sectors per page, the last page partly). Indirect when the request has more
// pages than a direct one can hold; then `indirect_gfns` gives the pages for the
// segment lists (512 segments each).
constexpr unsigned kMaxPages = 256;
struct Io {
    uint64_t id = 0;
    uint64_t sector = 0;
    uint32_t nr_sectors = 0;
    bool write = false;
    uint64_t const* gfns = nullptr;
    uint64_t const* indirect_gfns = nullptr;
    // Filled by submit(), ended by complete(): the grants made for this request alone (none
    // when persistent grants cover its pages).
    grant_ref_t refs[kMaxPages + BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    uint32_t nr_refs = 0;
};
// Grants the pages and queues the request (call push() after one or a batch). 0 or < 0
// (no free slot, no free grant entries, too many pages for what the backend offers).
long submit(Device& d, Io& io);
// A flush (BLKIF_OP_FLUSH_DISKCACHE, no segments) with this id.
long submit_flush(Device& d, uint64_t id);
// Ends the grants of a request whose response came. 0, or < 0 if the backend still holds one
// (a backend bug: it answered before it was done with the page).
long complete(Io& io);

}  // namespace minios::blkfront
