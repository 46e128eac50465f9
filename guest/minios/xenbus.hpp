// minios::xenbus: a xenstore client over the store ring (io/xs_wire.h) at
// HVM_PARAM_STORE_PFN, with HVM_PARAM_STORE_EVTCHN to the daemon. One request at a time,
// synchronously: write it, notify, then read the response ring until the reply with its
// req_id comes; XS_WATCH_EVENT messages that arrive meanwhile are queued for next_event().
//
// Results are >= 0 on success and a negative Xen errno otherwise: the daemon's XS_ERROR
// names mapped to XEN_E*, -XEN_ETIMEDOUT when no reply came within the timeout,
// -XEN_EIO once the ring is unusable (the daemon set its error field, or its indexes or
// message lengths make no sense), -XEN_E2BIG for a request over XENSTORE_PAYLOAD_MAX
// (never sent: the daemon would drop the connection). last_error() says more.
//
// Paths without a leading '/' are relative to /local/domain/<our id>; the daemon resolves
// them (and strips the prefix again from watch events on relative watches).
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "xen_abi.hpp"

namespace minios::xenbus {

// Maps the ring and adopts the port, then waits up to wait_ns for the daemon to connect
// (it sets server_features when it introduces us). 0, -XEN_ENODEV (the toolstack gave us
// no store), -XEN_ENOTCONN (nobody serves the ring) or another Xen errno.
long init(uint64_t wait_ns = 2'000'000'000);
// Around a suspend (no request is in flight then: every request completes or times out
// before its caller returns). suspend() clears server_features in the ring, so a resume in
// a new domain waits, as boot does, until the new domain's store daemon has reset the ring
// and set it again. resume(false), a cancelled suspend: the same daemon serves us still;
// the field is put back. resume(true): the store port is read again
// (HVM_PARAM_STORE_EVTCHN), request and event state start afresh, and once connected every
// watch still registered is registered again (it fires once then, as any new watch).
void suspend();
long resume(bool new_domain, uint64_t wait_ns = 5'000'000'000);
bool ready();
evtchn_port_t port();
volatile xenstore_domain_interface* ring();
const char* last_error();
// Per-request timeout (default 5 s).
void set_timeout(uint64_t ns);

// The value (NUL-terminated in buf, truncated to cap - 1): its full length, or < 0.
long read(uint32_t tx, const char* path, char* buf, size_t cap);
long write(uint32_t tx, const char* path, const char* value, size_t len);
long write(uint32_t tx, const char* path, const char* value);
long mkdir(uint32_t tx, const char* path);
long rm(uint32_t tx, const char* path);
// The children's names, each NUL-terminated, back to back in buf: the bytes used, or < 0.
long directory(uint32_t tx, const char* path, char* buf, size_t cap);
// Registered watches (up to 8; paths up to 127 bytes, tokens 63) are remembered for resume().
long watch(const char* path, const char* token);
long unwatch(const char* path, const char* token);
long transaction_start(uint32_t* tx);
// commit = false abandons it. -XEN_EAGAIN: it conflicted with another change; start over.
long transaction_end(uint32_t tx, bool commit);
long get_domain_path(domid_t domid, char* buf, size_t cap);

// Any request: `payload` as is (its NULs included). The reply's body goes to reply
// (NUL-terminated, truncated), its type to *reply_type; returns the body's length, or < 0
// (XS_ERROR replies become their errno as above).
long request(uint32_t type, uint32_t tx, const void* payload, size_t len, char* reply, size_t cap,
             uint32_t* reply_type = nullptr);

struct Event {
    char path[256];
    char token[64];
};
// Dequeues the oldest queued watch event whose token is `token` (any token: nullptr).
bool next_event(const char* token, Event* out);
// Watch events dropped because the queue was full.
unsigned events_lost();
// Reads what the daemon has sent (watch events are queued, stale replies dropped); true if
// anything came. Callers that wait for the store port call it when the port fires.
bool pump();

}  // namespace minios::xenbus
