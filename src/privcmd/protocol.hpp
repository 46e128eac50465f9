// kxen privcmd: the wire format of kxend's control socket, what /dev/xen/privcmd is to dom0.
//
// A SOCK_SEQPACKET connection. The client first shares a memfd ("the buffer"); afterwards every
// pointer a hypercall argument or a guest handle carries is an offset into that buffer, so
// kxend follows pointers exactly as Xen follows a dom0 process's virtual addresses.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <string>

namespace kxen::privcmd {

inline constexpr std::uint32_t magic = 0x4350584b;   // "KXPC"
inline constexpr std::uint32_t version = 1;
inline constexpr char const* default_socket = "/run/kxen/privcmd";

// The socket a tool talks to: `flag` (--socket), else $KXEN_SOCKET, else the default.
inline std::string socket_path(std::string const& flag) {
    if (!flag.empty()) return flag;
    if (char const* e = std::getenv("KXEN_SOCKET"); e && *e) return e;
    return default_socket;
}

enum class Op : std::uint32_t {
    hello = 1,         // fd: the buffer memfd; a0 = its size, a1 = where the client mapped it
                       // (0: pointers are offsets). val0 = protocol version
    hypercall = 2,     // a0 = hypercall number, a1..a5 = its arguments
    map_foreign = 3,   // a0 = domid, a1 = first gfn, a2 = count, a3 = 1: read-only. fd: guest RAM; val0 = offset in it
    console_read = 4,  // a0 = domid, a1 = from position, a2 = buffer offset, a3 = max bytes,
                       // a4 = wait ms. ret = bytes; val0 = next position
    domain_wait = 5,   // a0 = domid, a1 = last seen sequence, a2 = wait ms. val0 = sequence now
    set_name = 6,      // a0 = domid, a1 = buffer offset, a2 = length
    get_name = 7,      // a0 = domid, a1 = buffer offset, a2 = max. ret = length
    // dom0 event channels (what /dev/xen/evtchn is on Xen). Ports belong to the connection.
    evtchn_bind = 8,   // a0 = remote domid, a1 = remote port (bind_interdomain), or a1 = ~0:
                       // allocate a port unbound for a0. ret = local port; fd: its eventfd
    evtchn_notify = 9, // a0 = local port
    evtchn_unbind = 10,// a0 = local port
    // dom0 grant mappings (what /dev/xen/gntdev is on Xen).
    gnttab_map = 11,   // a0 = domid, a1 = ref, a2 = readonly. ret = handle; fd: guest RAM,
                       // val0 = offset of the page in it
    gnttab_unmap = 12, // a0 = handle, a1 = a dom0 port + 1 to notify after the unmap (0: none)
    host_info = 13,    // a0 = buffer offset, a1 = max: the host's state directory. ret = length
    // What kxend does to a domain if this connection closes first (the tool died mid-way):
    // a0 = domid, a1 = a Guard, a2 = 1: the domain suspended itself (SCHEDOP_shutdown), so
    // resuming it returns 1 from that hypercall. One guard per domain and connection.
    domain_guard = 14,
    evtchn_bind_virq = 15,  // a0 = a global VIRQ (VIRQ_DOM_EXC). ret = local port; fd: its eventfd
    // fd: guest RAM (the pool), where XENMEM_acquire_resource's frames ("mfns") are.
    ram_pool = 16,
};

enum class Guard : std::uint64_t {
    none = 0,      // the domain is the tool's no longer
    destroy = 1,   // half-built (a restore or an incoming migration before its go)
    resume = 2,    // a save or migration's source: log-dirty off, a suspend undone, name restored
    unpause = 3,   // an incoming migration past its go: the domain is the destination's
    // An incoming migration waiting for its go, with the connection it comes on (passed fd,
    // a3 = the go's length): destroyed if the go is not there, unpaused if it has arrived unread.
    // Where the connection is a socket the sender reads its report on (a4/a5: the report's
    // text in the buffer), kxend sends that report, with result 0 or 1, in the receiver's place.
    commit = 4,
    // A migration's source past its go, with the connection the receiver's report comes on
    // (passed fd, a3 = the report's length with its result byte): destroyed on a result of 0,
    // resumed on 1, kept suspended when no report comes (within 5 s).
    sent = 5,
};

struct Request {
    std::uint32_t magic;
    Op op;
    std::uint64_t a[6];
};

struct Reply {
    std::int64_t ret;    // >= 0 success, else -errno (Xen's errno values)
    std::uint64_t val[2];
};

} // namespace kxen::privcmd
