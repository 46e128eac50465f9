// libxenevtchn.so.1: dom0 event channels (Xen's /dev/xen/evtchn). kxend gives each bound port
// an eventfd; xenevtchn_fd() is an epoll set over them, so a caller polls one fd as on Xen.
// As with Linux's evtchn device, a port is reported once by xenevtchn_pending() and then
// stays quiet (masked) until xenevtchn_unmask(): EPOLLONESHOT, re-armed on unmask.
// Xen's headers declare C functions without extern "C" of their own.
extern "C" {
#include <xenevtchn.h>
}
#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include "xenlibs/handle.hpp"

using kxen::UniqueFd;
using kxen::privcmd::Op;
using kxen::xenlibs::Channel;

struct xenevtchn_handle {
    xentoolcore__active_handle tc;
    std::unique_ptr<Channel> ch;
    UniqueFd ep;
    std::mutex mu;
    std::map<evtchn_port_t, UniqueFd> ports;
    std::int32_t restricted = -1;   // xenevtchn_restrict: binds only to this domain
};

namespace {

int restrict_cb(xentoolcore__active_handle* ah, domid_t domid) {
    auto* h = reinterpret_cast<xenevtchn_handle*>(ah);
    std::lock_guard g{h->mu};
    h->restricted = domid;
    return 0;
}

bool arm(xenevtchn_handle* h, evtchn_port_t port, int fd, int op) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u32 = port;
    return ::epoll_ctl(h->ep.raw(), op, fd, &ev) == 0;
}

// A bind request: the port kxend allocated, with its eventfd, joins the set.
xenevtchn_port_or_error_t bind(xenevtchn_handle* h, std::uint32_t domid, std::array<std::uint64_t, 6> a, Op op) {
    {
        std::lock_guard g{h->mu};
        if (h->restricted >= 0 && op != Op::evtchn_bind_virq && domid != static_cast<std::uint32_t>(h->restricted)) {
            errno = EPERM;
            return -1;
        }
    }
    UniqueFd efd;
    auto r = h->ch->call(op, a, &efd);
    if (r < 0) return static_cast<int>(kxen::xenlibs::c_result(r));
    if (!efd) {
        errno = EIO;
        return -1;
    }
    auto port = static_cast<evtchn_port_t>(r);
    std::lock_guard g{h->mu};
    if (!arm(h, port, efd.raw(), EPOLL_CTL_ADD)) {
        int e = errno;
        (void)h->ch->call(Op::evtchn_unbind, {port, 0, 0, 0, 0, 0});
        errno = e;
        return -1;
    }
    h->ports[port] = std::move(efd);
    return static_cast<int>(port);
}

} // namespace

extern "C" {

xenevtchn_handle* xenevtchn_open(xentoollog_logger*, unsigned flags) {
    auto* h = kxen::xenlibs::open_handle<xenevtchn_handle>(
        64 << 10, "xenevtchn: error: Could not open event channel interface", restrict_cb);
    if (!h) return nullptr;
    h->ep.reset(::epoll_create1((flags & XENEVTCHN_NO_CLOEXEC) ? 0 : EPOLL_CLOEXEC));
    if (!h->ep) {
        int e = errno;
        kxen::xenlibs::close_handle(h);
        errno = e;
        return nullptr;
    }
    return h;
}

// Xen's: re-open from a descriptor a previous xenstored left (live update). kxend's ports
// belong to the connection that bound them, which died with that process.
xenevtchn_handle* xenevtchn_fdopen(xentoollog_logger*, int, unsigned) {
    errno = EOPNOTSUPP;
    return nullptr;
}

int xenevtchn_close(xenevtchn_handle* h) {
    return kxen::xenlibs::close_handle(h);
}

int xenevtchn_fd(xenevtchn_handle* h) { return h->ep.raw(); }

int xenevtchn_notify(xenevtchn_handle* h, evtchn_port_t port) {
    return static_cast<int>(kxen::xenlibs::c_result(h->ch->call(Op::evtchn_notify, {port, 0, 0, 0, 0, 0})));
}

xenevtchn_port_or_error_t xenevtchn_bind_unbound_port(xenevtchn_handle* h, std::uint32_t domid) {
    return bind(h, domid, {domid, ~0ull, 0, 0, 0, 0}, Op::evtchn_bind);
}

xenevtchn_port_or_error_t xenevtchn_bind_interdomain(xenevtchn_handle* h, std::uint32_t domid,
                                                     evtchn_port_t remote_port) {
    return bind(h, domid, {domid, remote_port, 0, 0, 0, 0}, Op::evtchn_bind);
}

xenevtchn_port_or_error_t xenevtchn_bind_virq(xenevtchn_handle* h, unsigned virq) {
    return bind(h, 0, {virq, 0, 0, 0, 0, 0}, Op::evtchn_bind_virq);
}

int xenevtchn_unbind(xenevtchn_handle* h, evtchn_port_t port) {
    std::lock_guard g{h->mu};
    auto it = h->ports.find(port);
    if (it == h->ports.end()) {
        errno = EINVAL;
        return -1;
    }
    auto r = h->ch->call(Op::evtchn_unbind, {port, 0, 0, 0, 0, 0});
    h->ports.erase(it);   // closing the eventfd takes it out of the epoll set
    return static_cast<int>(kxen::xenlibs::c_result(r));
}

xenevtchn_port_or_error_t xenevtchn_pending(xenevtchn_handle* h) {
    // Blocks as a read of Xen's device does, unless the caller made the fd non-blocking.
    int timeout = (::fcntl(h->ep.raw(), F_GETFL) & O_NONBLOCK) ? 0 : -1;
    epoll_event ev{};
    int n;
    do n = ::epoll_wait(h->ep.raw(), &ev, 1, timeout);
    while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    if (n == 0) {
        errno = EAGAIN;
        return -1;
    }
    auto port = ev.data.u32;
    std::lock_guard g{h->mu};
    if (auto it = h->ports.find(port); it != h->ports.end()) {
        std::uint64_t v;
        (void)!::read(it->second.raw(), &v, sizeof v);   // the eventfd is non-blocking
    }
    return static_cast<int>(port);
}

int xenevtchn_unmask(xenevtchn_handle* h, evtchn_port_t port) {
    std::lock_guard g{h->mu};
    auto it = h->ports.find(port);
    if (it == h->ports.end()) {
        errno = EINVAL;
        return -1;
    }
    return arm(h, port, it->second.raw(), EPOLL_CTL_MOD) ? 0 : -1;
}

int xenevtchn_restrict(xenevtchn_handle* h, domid_t domid) { return restrict_cb(&h->tc, domid); }

}
