#include "xenbus.hpp"

#include <stdarg.h>

#include "evtchn.hpp"
#include "fmt.hpp"
#include "lib.hpp"
#include "time.hpp"
#include "x86.hpp"
#include "xen.hpp"

namespace minios::xenbus {
namespace {

constexpr uint32_t kHeader = sizeof(xsd_sockmsg);
constexpr unsigned kEvents = 8;

constinit volatile xenstore_domain_interface* intf = nullptr;
constinit evtchn_port_t port_ = 0;
constinit bool connected = false;
constinit bool broken = false;
constinit uint64_t timeout_ns = 5'000'000'000;
constinit uint32_t next_id = 1;
constinit uint32_t waiting_for = 0;  // req_id of the request in flight (0: none)
constinit char error[160] = "";

// The request being sent, built in place.
constinit char out_msg[kHeader + XENSTORE_PAYLOAD_MAX];
char* const out_body = out_msg + kHeader;

// The message being read off the response ring: in_got counts its header and body bytes.
constinit xsd_sockmsg in_hdr{};
constinit char in_body[XENSTORE_PAYLOAD_MAX + 1];
constinit uint32_t in_got = 0;
constinit bool in_done = false;  // in_hdr/in_body hold the reply request() waits for
constinit bool replied = false;  // the last request got a reply (XS_ERROR included)

constinit Event events[kEvents]{};
constinit unsigned ev_head = 0, ev_count = 0, ev_lost = 0;

// What resume() registers again in a new domain.
struct Watch {
    char path[128];
    char token[64];
    bool used;
};
constinit Watch watches[8]{};
constinit uint32_t features_at_suspend = 0;

struct ErrName {
    const char* name;
    int err;
};
// xs_wire.h's xsd_errors, in Xen's numbering.
constexpr ErrName kErrors[] = {
    {"EINVAL", XEN_EINVAL}, {"EACCES", XEN_EACCES}, {"EEXIST", XEN_EEXIST},       {"EISDIR", XEN_EISDIR},
    {"ENOENT", XEN_ENOENT}, {"ENOMEM", XEN_ENOMEM}, {"ENOSPC", XEN_ENOSPC},       {"EIO", XEN_EIO},
    {"ENOTEMPTY", XEN_ENOTEMPTY}, {"ENOSYS", XEN_ENOSYS}, {"EROFS", XEN_EROFS},   {"EBUSY", XEN_EBUSY},
    {"EAGAIN", XEN_EAGAIN}, {"EISCONN", XEN_EISCONN}, {"E2BIG", XEN_E2BIG},       {"EPERM", XEN_EPERM},
};

const char* const kTypeNames[] = {
    "XS_CONTROL", "XS_DIRECTORY", "XS_READ", "XS_GET_PERMS", "XS_WATCH", "XS_UNWATCH",
    "XS_TRANSACTION_START", "XS_TRANSACTION_END", "XS_INTRODUCE", "XS_RELEASE", "XS_GET_DOMAIN_PATH",
    "XS_WRITE", "XS_MKDIR", "XS_RM", "XS_SET_PERMS", "XS_WATCH_EVENT", "XS_ERROR",
};

const char* type_name(uint32_t t) { return t < lib::size(kTypeNames) ? kTypeNames[t] : "request"; }

void set_error(const char* f, ...) __attribute__((format(printf, 1, 2)));
void set_error(const char* f, ...) {
    va_list ap;
    va_start(ap, f);
    fmt::vformat(error, sizeof(error), f, ap);
    va_end(ap);
}

long fail_broken(const char* why) {
    if (!broken) set_error("store ring unusable: %s", why);
    broken = true;
    return -XEN_EIO;
}

// The daemon's verdict on us (XENSTORE_SERVER_FEATURE_ERROR): once set, it serves us no more.
bool daemon_gave_up() {
    uint32_t e = intf->error;
    if (!e) return false;
    char why[64];
    fmt::format(why, sizeof(why), "the daemon set error %u (%s)", e,
                e == XENSTORE_ERROR_COMM ? "comm" : e == XENSTORE_ERROR_RINGIDX ? "ring index" :
                e == XENSTORE_ERROR_PROTO ? "protocol" : "?");
    fail_broken(why);
    return true;
}

// Up to n bytes off the response ring; < 0 if its indexes make no sense.
long rsp_take(char* dst, uint32_t n) {
    XENSTORE_RING_IDX cons = intf->rsp_cons, prod = intf->rsp_prod;
    x86::barrier();  // the index before the bytes it covers (x86 keeps loads in order)
    if (prod - cons > XENSTORE_RING_SIZE) return fail_broken("response ring indexes out of range");
    uint32_t k = prod - cons < n ? prod - cons : n;
    for (uint32_t i = 0; i < k; ++i) dst[i] = intf->rsp[MASK_XENSTORE_IDX(cons + i)];
    if (k) {
        x86::mb();  // our copy is complete before the daemon may overwrite it
        intf->rsp_cons = cons + k;
    }
    return k;
}

void queue_event() {
    if (ev_count == kEvents) {
        ++ev_lost;
        return;
    }
    Event& e = events[(ev_head + ev_count++) % kEvents];
    size_t plen = lib::strnlen(in_body, in_hdr.len);
    size_t n = plen < sizeof(e.path) - 1 ? plen : sizeof(e.path) - 1;
    memcpy(e.path, in_body, n);
    e.path[n] = '\0';
    const char* tok = plen < in_hdr.len ? in_body + plen + 1 : "";
    size_t tlen = lib::strnlen(tok, sizeof(e.token) - 1);
    memcpy(e.token, tok, tlen);
    e.token[tlen] = '\0';
}

// Waits for the store port (true) or the deadline.
bool wait_port(uint64_t deadline) { return evtchn::wait(port_, deadline); }

long send(uint32_t total, uint64_t deadline) {
    for (uint32_t off = 0; off < total;) {
        if (daemon_gave_up()) return -XEN_EIO;
        XENSTORE_RING_IDX cons = intf->req_cons, prod = intf->req_prod;
        x86::mb();  // the indexes before the bytes (Xen's xs_write)
        if (prod - cons > XENSTORE_RING_SIZE) return fail_broken("request ring indexes out of range");
        uint32_t room = XENSTORE_RING_SIZE - (prod - cons);
        if (!room) {
            pump();  // the daemon may be stuck on a full response ring
            if (broken) return -XEN_EIO;
            if (!wait_port(deadline)) {
                set_error("no room on the request ring for %lu ms", timeout_ns / 1'000'000);
                return -XEN_ETIMEDOUT;
            }
            continue;
        }
        uint32_t k = total - off < room ? total - off : room;
        for (uint32_t i = 0; i < k; ++i) intf->req[MASK_XENSTORE_IDX(prod + i)] = out_msg[off + i];
        x86::barrier();  // x86 keeps stores in order: the bytes before the index
        intf->req_prod = prod + k;
        off += k;
        evtchn::send(port_);
    }
    return 0;
}

int errno_of(const char* name) {
    for (auto const& e : kErrors)
        if (lib::str_eq(e.name, name)) return e.err;
    return XEN_EIO;
}

// Sends the request whose body (len bytes) is in out_body and waits for its reply, left in
// in_hdr/in_body. 0 or < 0.
long transact(uint32_t type, uint32_t tx, uint32_t len) {
    replied = false;
    if (!connected) {
        set_error("no store connection");
        return -XEN_ENODEV;
    }
    if (broken) return -XEN_EIO;
    xsd_sockmsg h{};
    h.type = type;
    h.req_id = next_id++;
    if (!next_id) next_id = 1;
    h.tx_id = tx;
    h.len = len;
    memcpy(out_msg, &h, kHeader);
    uint64_t deadline = time::now_ns() + timeout_ns;
    waiting_for = h.req_id;
    long rc = send(kHeader + len, deadline);
    while (rc == 0 && !in_done) {
        pump();
        if (broken) rc = -XEN_EIO;
        else if (!in_done && !wait_port(deadline) && !pump() && !in_done) {
            set_error("no reply to %s within %lu ms", type_name(type), timeout_ns / 1'000'000);
            rc = -XEN_ETIMEDOUT;
        }
    }
    waiting_for = 0;
    replied = rc == 0;
    if (rc < 0) return rc;
    in_done = false;
    in_got = 0;
    if (in_hdr.type == XS_ERROR) {
        set_error("%s: %s", type_name(type), in_body);
        return -errno_of(in_body);
    }
    return 0;
}

// The request's body, built in place: false once it outgrows XENSTORE_PAYLOAD_MAX.
struct Body {
    uint32_t len = 0;
    bool ok = true;
    Body& add(const char* s, size_t n, bool nul) {
        if (!ok || len + n + nul > XENSTORE_PAYLOAD_MAX) {
            ok = false;
            return *this;
        }
        memcpy(out_body + len, s, n);
        len += uint32_t(n);
        if (nul) out_body[len++] = '\0';
        return *this;
    }
    Body& str(const char* s) { return add(s, strlen(s), true); }
};

long too_big(uint32_t type) {
    set_error("%s over XENSTORE_PAYLOAD_MAX (%u bytes): not sent", type_name(type), XENSTORE_PAYLOAD_MAX);
    return -XEN_E2BIG;
}

// Copies the reply body to buf (NUL-terminated, truncated); returns its full length.
long reply_to(char* buf, size_t cap) {
    uint32_t len = in_hdr.len;
    if (cap) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(buf, in_body, n);
        buf[n] = '\0';
    }
    return long(len);
}

long simple(uint32_t type, uint32_t tx, Body const& b, char* buf = nullptr, size_t cap = 0) {
    if (!b.ok) return too_big(type);
    long rc = transact(type, tx, b.len);
    if (rc < 0) return rc;
    return buf ? reply_to(buf, cap) : 0;
}

Watch* find_watch(const char* path, const char* token) {
    for (auto& w : watches)
        if (w.used && lib::str_eq(w.path, path) && lib::str_eq(w.token, token)) return &w;
    return nullptr;
}

void remember_watch(const char* path, const char* token) {
    if (find_watch(path, token)) return;
    size_t pl = strlen(path), tl = strlen(token);
    if (pl >= sizeof(Watch::path) || tl >= sizeof(Watch::token)) return;
    for (auto& w : watches) {
        if (w.used) continue;
        memcpy(w.path, path, pl + 1);
        memcpy(w.token, token, tl + 1);
        w.used = true;
        return;
    }
}

// HVM_PARAM_STORE_PFN/EVTCHN: the ring and the port, the port unmasked for good.
long attach() {
    uint64_t pfn = 0, evtchn = 0;
    xen::get_param(HVM_PARAM_STORE_PFN, &pfn);
    xen::get_param(HVM_PARAM_STORE_EVTCHN, &evtchn);
    if (!pfn || !evtchn || pfn >= (uint64_t{1} << 20) || evtchn >= evtchn::kMaxPorts) {
        set_error("no store (HVM_PARAM_STORE_PFN 0x%lx, HVM_PARAM_STORE_EVTCHN %lu)", pfn, evtchn);
        return -XEN_ENODEV;
    }
    port_ = evtchn_port_t(evtchn);
    if (long rc = evtchn::adopt(port_); rc < 0) {
        set_error("store port %u: %ld", port_, rc);
        return rc;
    }
    // Watch events must wake us whoever waits: the port stays unmasked from here on.
    if (long rc = evtchn::unmask(port_); rc < 0) {
        set_error("unmask store port %u: %ld", port_, rc);
        return rc;
    }
    intf = reinterpret_cast<volatile xenstore_domain_interface*>(pfn << 12);
    return 0;
}

// Whether a daemon answers a request before `deadline`: Xen 4.17's C xenstored serves the ring
// without setting server_features.
bool answers(uint64_t deadline) {
    uint64_t saved = timeout_ns, now = time::now_ns();
    timeout_ns = deadline > now ? deadline - now : 1;
    connected = true;
    (void)simple(XS_READ, 0, Body{}.str("domid"));   // an XS_ERROR reply counts too
    connected = replied;
    timeout_ns = saved;
    return replied;
}

// The daemon resets the ring and sets server_features when the toolstack introduces us
// (kxenstored, oxenstored); a page still all zero after a moment is asked directly, and no
// answer means nobody serves it (yet). Polls too, in case no event comes.
long connect(uint64_t wait_ns) {
    uint64_t start = time::now_ns(), deadline = start + wait_ns;
    uint64_t probe_at = start + (wait_ns / 4 < 100'000'000 ? wait_ns / 4 : 100'000'000);
    bool probed = false;
    while (!intf->server_features) {
        uint64_t now = time::now_ns();
        if (!probed && now >= probe_at) {
            probed = true;
            if (answers(deadline)) break;
            continue;
        }
        if (now >= deadline) {
            set_error("nobody serves the store ring (no server_features and no reply after %lu ms)",
                      wait_ns / 1'000'000);
            return -XEN_ENOTCONN;
        }
        wait_port(now + 10'000'000 < deadline ? now + 10'000'000 : deadline);
    }
    connected = true;
    daemon_gave_up();
    return broken ? -XEN_EIO : 0;
}

}  // namespace

long init(uint64_t wait_ns) {
    if (connected) return 0;
    if (!xen::present()) return -XEN_ENODEV;
    if (!intf)
        if (long rc = attach(); rc < 0) return rc;
    return connect(wait_ns);
}

void suspend() {
    if (!intf) return;
    features_at_suspend = intf->server_features;
    intf->server_features = 0;
}

long resume(bool new_domain, uint64_t wait_ns) {
    if (!intf) return 0;
    if (!new_domain) {
        if (!intf->server_features) intf->server_features = features_at_suspend;
        return 0;
    }
    // Whatever was half read or queued came from the old domain's daemon.
    connected = broken = false;
    in_got = 0;
    in_done = replied = false;
    waiting_for = 0;
    ev_head = ev_count = 0;
    intf = nullptr;
    if (long rc = attach(); rc < 0) return rc;
    if (long rc = connect(wait_ns); rc < 0) return rc;
    for (auto const& w : watches) {
        if (!w.used) continue;
        if (long rc = simple(XS_WATCH, 0, Body{}.str(w.path).str(w.token)); rc < 0) return rc;
    }
    return 0;
}

bool ready() { return connected && !broken; }
evtchn_port_t port() { return port_; }
volatile xenstore_domain_interface* ring() { return intf; }
const char* last_error() { return error; }
void set_timeout(uint64_t ns) { timeout_ns = ns; }

bool pump() {
    if (!intf || broken) return false;
    bool any = false;
    while (!in_done) {
        char* dst = in_got < kHeader ? reinterpret_cast<char*>(&in_hdr) + in_got : in_body + (in_got - kHeader);
        uint32_t want = in_got < kHeader ? kHeader - in_got : kHeader + in_hdr.len - in_got;
        long k = want ? rsp_take(dst, want) : 0;
        if (k < 0) break;
        if (k > 0) {
            any = true;
            in_got += uint32_t(k);
            if (in_got == kHeader && in_hdr.len > XENSTORE_PAYLOAD_MAX) {
                fail_broken("the daemon sent a message over XENSTORE_PAYLOAD_MAX");
                break;
            }
        }
        if (in_got < kHeader || in_got < kHeader + in_hdr.len) {
            if (k == 0) break;  // the rest is not there yet
            continue;
        }
        in_body[in_hdr.len] = '\0';
        if (in_hdr.type == XS_WATCH_EVENT) queue_event();
        else if (waiting_for && in_hdr.req_id == waiting_for) in_done = true;
        if (!in_done) in_got = 0;  // consumed, or a reply to a request that timed out
    }
    if (any) evtchn::send(port_);  // the daemon may be waiting for room
    if (intf && !broken) daemon_gave_up();
    return any;
}

long request(uint32_t type, uint32_t tx, const void* payload, size_t len, char* reply, size_t cap,
             uint32_t* reply_type) {
    if (len > XENSTORE_PAYLOAD_MAX) return too_big(type);
    memcpy(out_body, payload, len);
    long rc = transact(type, tx, uint32_t(len));
    if (reply_type) *reply_type = replied ? in_hdr.type : uint32_t(XS_INVALID);
    if (rc < 0) return rc;
    return reply_to(reply, cap);
}

long read(uint32_t tx, const char* path, char* buf, size_t cap) {
    return simple(XS_READ, tx, Body{}.str(path), buf, cap);
}

long write(uint32_t tx, const char* path, const char* value, size_t len) {
    return simple(XS_WRITE, tx, Body{}.str(path).add(value, len, false));
}

long write(uint32_t tx, const char* path, const char* value) { return write(tx, path, value, strlen(value)); }

long mkdir(uint32_t tx, const char* path) { return simple(XS_MKDIR, tx, Body{}.str(path)); }

long rm(uint32_t tx, const char* path) { return simple(XS_RM, tx, Body{}.str(path)); }

long directory(uint32_t tx, const char* path, char* buf, size_t cap) {
    return simple(XS_DIRECTORY, tx, Body{}.str(path), buf, cap);
}

long watch(const char* path, const char* token) {
    long rc = simple(XS_WATCH, 0, Body{}.str(path).str(token));
    if (rc == 0) remember_watch(path, token);
    return rc;
}

long unwatch(const char* path, const char* token) {
    if (Watch* w = find_watch(path, token)) w->used = false;
    return simple(XS_UNWATCH, 0, Body{}.str(path).str(token));
}

long transaction_start(uint32_t* tx) {
    char id[16];
    long rc = simple(XS_TRANSACTION_START, 0, Body{}.str(""), id, sizeof(id));
    if (rc < 0) return rc;
    uint64_t v;
    if (!lib::parse_u64(id, &v) || !v || v > 0xffffffffu) {
        set_error("XS_TRANSACTION_START: bad id \"%s\"", id);
        return -XEN_EIO;
    }
    *tx = uint32_t(v);
    return 0;
}

long transaction_end(uint32_t tx, bool commit) {
    return simple(XS_TRANSACTION_END, tx, Body{}.str(commit ? "T" : "F"));
}

long get_domain_path(domid_t domid, char* buf, size_t cap) {
    char id[8];
    fmt::format(id, sizeof(id), "%u", unsigned(domid));
    return simple(XS_GET_DOMAIN_PATH, 0, Body{}.str(id), buf, cap);
}

bool next_event(const char* token, Event* out) {
    pump();
    for (unsigned i = 0; i < ev_count; ++i) {
        Event& e = events[(ev_head + i) % kEvents];
        if (token && !lib::str_eq(e.token, token)) continue;
        *out = e;
        // Close the gap, keeping the others in order.
        for (unsigned j = i; j + 1 < ev_count; ++j) events[(ev_head + j) % kEvents] = events[(ev_head + j + 1) % kEvents];
        --ev_count;
        return true;
    }
    return false;
}

unsigned events_lost() { return ev_lost; }

}  // namespace minios::xenbus
