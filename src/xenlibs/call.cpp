// libxencall.so.1: hypercalls from dom0 userspace (Xen's /dev/xen/privcmd ioctl). Hypercall
// buffers are pages of the channel's shared buffer, so kxend reads and writes them where the
// caller sees them, and never faults on them (xencall_buffers_never_fault).
// Xen's headers declare C functions without extern "C" of their own.
extern "C" {
#include <xencall.h>
}
#include <cerrno>
#include <cstdio>
#include <cstring>
#include "xenlibs/handle.hpp"

using kxen::xenlibs::Channel;
using kxen::xenlibs::c_result;

struct xencall_handle {
    xentoolcore__active_handle tc;   // first: the restrict callback finds the handle from it
    std::unique_ptr<Channel> ch;
};

namespace {

// Enough for libxc's largest buffers (log-dirty bitmaps of a 64 GiB guest, batches of pfns);
// pages that are never touched cost nothing.
constexpr std::size_t buffer_bytes = 256u << 20;

struct AllocationHeader {   // before an xencall_alloc_buffer() pointer, as in Xen
    std::size_t nr_pages;
    std::size_t pad;
};

int restrict_cb(xentoolcore__active_handle* ah, domid_t) {
    // kxend's channel cannot be narrowed to one domain: the handle is made useless instead.
    return xentoolcore__restrict_by_dup2_null(reinterpret_cast<xencall_handle*>(ah)->ch->fd());
}

int call(xencall_handle* h, unsigned op, std::uint64_t a1 = 0, std::uint64_t a2 = 0, std::uint64_t a3 = 0,
         std::uint64_t a4 = 0, std::uint64_t a5 = 0) {
    return static_cast<int>(c_result(h->ch->call(kxen::privcmd::Op::hypercall, {op, a1, a2, a3, a4, a5})));
}

} // namespace

extern "C" {

xencall_handle* xencall_open(xentoollog_logger*, unsigned) {
    return kxen::xenlibs::open_handle<xencall_handle>(
        buffer_bytes, "xencall: error: Could not obtain handle on privileged command interface", restrict_cb);
}

int xencall_close(xencall_handle* h) {
    return kxen::xenlibs::close_handle(h);
}

int xencall_fd(xencall_handle* h) { return h->ch->fd(); }

int xencall0(xencall_handle* h, unsigned op) { return call(h, op); }
int xencall1(xencall_handle* h, unsigned op, std::uint64_t a1) { return call(h, op, a1); }
int xencall2(xencall_handle* h, unsigned op, std::uint64_t a1, std::uint64_t a2) { return call(h, op, a1, a2); }
int xencall3(xencall_handle* h, unsigned op, std::uint64_t a1, std::uint64_t a2, std::uint64_t a3) {
    return call(h, op, a1, a2, a3);
}
int xencall4(xencall_handle* h, unsigned op, std::uint64_t a1, std::uint64_t a2, std::uint64_t a3, std::uint64_t a4) {
    return call(h, op, a1, a2, a3, a4);
}
int xencall5(xencall_handle* h, unsigned op, std::uint64_t a1, std::uint64_t a2, std::uint64_t a3, std::uint64_t a4,
             std::uint64_t a5) {
    return call(h, op, a1, a2, a3, a4, a5);
}
long xencall2L(xencall_handle* h, unsigned op, std::uint64_t a1, std::uint64_t a2) {
    return c_result(h->ch->call(kxen::privcmd::Op::hypercall, {op, a1, a2, 0, 0, 0}));
}

void* xencall_alloc_buffer_pages(xencall_handle* h, size_t nr_pages) { return h->ch->alloc_pages(nr_pages); }

void xencall_free_buffer_pages(xencall_handle* h, void* p, size_t nr_pages) { h->ch->free_pages(p, nr_pages); }

void* xencall_alloc_buffer(xencall_handle* h, size_t size) {
    if (size > buffer_bytes) {
        errno = ENOMEM;
        return nullptr;
    }
    std::size_t pages = (size + sizeof(AllocationHeader) + 4095) >> 12;
    auto* hdr = static_cast<AllocationHeader*>(h->ch->alloc_pages(pages));
    if (!hdr) return nullptr;
    hdr->nr_pages = pages;
    return hdr + 1;
}

void xencall_free_buffer(xencall_handle* h, void* p) {
    if (!p) return;
    auto* hdr = static_cast<AllocationHeader*>(p) - 1;
    h->ch->free_pages(hdr, hdr->nr_pages);
}

int xencall_buffers_never_fault(xencall_handle*) { return 1; }

}
