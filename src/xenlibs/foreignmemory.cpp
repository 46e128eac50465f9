// libxenforeignmemory.so.1: dom0 maps a domain's frames by gfn (Xen's privcmd mmapbatch).
// kxend answers each run of frames with the RAM pool's fd and where the run sits in it, and
// the run is mapped there; so the caller's pages are the guest's, not copies.
// Xen's headers declare C functions without extern "C" of their own.
extern "C" {
#include <xenforeignmemory.h>
}
#include <sys/mman.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>
#include <xen/memory.h>
#include "xenlibs/handle.hpp"

using kxen::UniqueFd;
using kxen::privcmd::Op;
using kxen::xenlibs::Channel;

struct xenforeignmemory_handle {
    xentoolcore__active_handle tc;
    std::unique_ptr<Channel> ch;
    std::mutex mu;
    std::int32_t restricted = -1;
};

struct xenforeignmemory_resource_handle {
    void* addr;
    std::size_t pages;
};

namespace {

int restrict_cb(xentoolcore__active_handle* ah, domid_t domid) {
    auto* h = reinterpret_cast<xenforeignmemory_handle*>(ah);
    std::lock_guard g{h->mu};
    h->restricted = domid;
    return 0;
}

// Maps `n` frames of `dom` from arr[first] on at `at`: 0, or -errno for the whole run.
int map_run(xenforeignmemory_handle* h, std::uint32_t dom, int prot, std::byte* at, xen_pfn_t gfn, std::size_t n) {
    UniqueFd pool;
    std::uint64_t offset = 0;
    bool ro = !(prot & PROT_WRITE);
    auto r = h->ch->call(Op::map_foreign, {dom, gfn, n, ro ? 1u : 0u, 0, 0}, &pool, &offset);
    if (r < 0) return static_cast<int>(r);
    if (!pool) return -EIO;
    void* p = ::mmap(at, n << 12, prot, MAP_SHARED | MAP_FIXED, pool.raw(), static_cast<off_t>(offset));
    return p == MAP_FAILED ? -errno : 0;
}

// Xen's privcmd reports these per frame: a frame that is not the domain's RAM.
int frame_error(int e) { return e == -ESRCH ? -ESRCH : -EINVAL; }

} // namespace

extern "C" {

xenforeignmemory_handle* xenforeignmemory_open(xentoollog_logger*, unsigned) {
    return kxen::xenlibs::open_handle<xenforeignmemory_handle>(
        64 << 10, "xenforeignmemory: error: Could not obtain handle on privileged command interface", restrict_cb);
}

int xenforeignmemory_close(xenforeignmemory_handle* h) {
    return kxen::xenlibs::close_handle(h);
}

void* xenforeignmemory_map2(xenforeignmemory_handle* h, std::uint32_t dom, void* addr, int prot, int flags,
                            size_t pages, xen_pfn_t const arr[], int err[]) {
    if (pages == 0 || pages > (std::size_t{1} << 28)) {
        errno = EINVAL;
        return nullptr;
    }
    {
        std::lock_guard g{h->mu};
        if (h->restricted >= 0 && dom != static_cast<std::uint32_t>(h->restricted)) {
            errno = EPERM;
            return nullptr;
        }
    }
    // Address space first, so every run lands inside one range the caller can unmap at once.
    void* area = ::mmap(addr, pages << 12, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
    if (area == MAP_FAILED) return nullptr;
    auto* base = static_cast<std::byte*>(area);
    bool any_error = false;
    for (std::size_t i = 0; i < pages;) {
        // The longest run of consecutive gfns; kxend maps it in one piece if the pool holds
        // it in one piece, else frame by frame.
        std::size_t n = 1;
        while (i + n < pages && arr[i + n] == arr[i] + n) ++n;
        int r = n > 1 ? map_run(h, dom, prot, base + (i << 12), arr[i], n) : -EINVAL;
        if (n > 1 && r == 0) {
            if (err) for (std::size_t j = i; j < i + n; ++j) err[j] = 0;
        } else {
            for (std::size_t j = i; j < i + n; ++j) {
                int e = map_run(h, dom, prot, base + (j << 12), arr[j], 1);
                if (e != 0) {
                    any_error = true;
                    e = frame_error(e);
                }
                if (err) err[j] = e;
            }
        }
        i += n;
    }
    if (any_error && !err) {
        ::munmap(area, pages << 12);
        errno = EINVAL;
        return nullptr;
    }
    return area;
}

void* xenforeignmemory_map(xenforeignmemory_handle* h, std::uint32_t dom, int prot, size_t pages,
                           xen_pfn_t const arr[], int err[]) {
    return xenforeignmemory_map2(h, dom, nullptr, prot, 0, pages, arr, err);
}

int xenforeignmemory_unmap(xenforeignmemory_handle*, void* addr, size_t pages) {
    return ::munmap(addr, pages << 12);
}

int xenforeignmemory_restrict(xenforeignmemory_handle* h, domid_t domid) { return restrict_cb(&h->tc, domid); }

int xenforeignmemory_resource_size(xenforeignmemory_handle* h, domid_t domid, unsigned type, unsigned id,
                                   size_t* size) {
    auto* arg = static_cast<xen_mem_acquire_resource*>(h->ch->alloc_pages(1));
    if (!arg) return -1;
    *arg = {};
    arg->domid = domid;
    arg->type = static_cast<std::uint16_t>(type);
    arg->id = id;
    auto r = h->ch->call(Op::hypercall, {__HYPERVISOR_memory_op, XENMEM_acquire_resource,
                                         reinterpret_cast<std::uint64_t>(arg), 0, 0, 0});
    auto frames = arg->nr_frames;
    h->ch->free_pages(arg, 1);
    if (r < 0) return static_cast<int>(kxen::xenlibs::c_result(r));
    *size = static_cast<std::size_t>(frames) << 12;
    return 0;
}

// Resources are pages kxend keeps for a domain (the grant table's frames): kxend names them
// by their place in the RAM pool (Xen's mfns), and they are mapped from the pool's fd.
xenforeignmemory_resource_handle* xenforeignmemory_map_resource(xenforeignmemory_handle* h, domid_t domid,
                                                                unsigned type, unsigned id, unsigned long frame,
                                                                unsigned long nr_frames, void** paddr, int prot,
                                                                int flags) {
    if (nr_frames == 0 || nr_frames > 32) {   // Xen's limit per call
        errno = nr_frames ? E2BIG : EINVAL;
        return nullptr;
    }
    auto* arg = static_cast<std::byte*>(h->ch->alloc_pages(1));
    if (!arg) return nullptr;
    auto* op = reinterpret_cast<xen_mem_acquire_resource*>(arg);
    auto* mfns = reinterpret_cast<xen_pfn_t*>(arg + 512);
    *op = {};
    op->domid = domid;
    op->type = static_cast<std::uint16_t>(type);
    op->id = id;
    op->frame = frame;
    op->nr_frames = static_cast<std::uint32_t>(nr_frames);
    op->frame_list = mfns;   // a plain pointer in tools builds
    auto r = h->ch->call(Op::hypercall, {__HYPERVISOR_memory_op, XENMEM_acquire_resource,
                                         reinterpret_cast<std::uint64_t>(op), 0, 0, 0});
    std::vector<xen_pfn_t> list(mfns, mfns + nr_frames);
    h->ch->free_pages(arg, 1);
    if (r < 0) {
        kxen::xenlibs::c_result(r);
        return nullptr;
    }
    UniqueFd pool;
    if (auto p = h->ch->call(Op::ram_pool, {}, &pool); p < 0 || !pool) {
        errno = p < 0 ? static_cast<int>(-p) : EIO;
        return nullptr;
    }
    void* area = ::mmap(paddr ? *paddr : nullptr, nr_frames << 12, PROT_NONE,
                        MAP_PRIVATE | MAP_ANONYMOUS | (flags & MAP_FIXED), -1, 0);
    if (area == MAP_FAILED) return nullptr;
    for (std::size_t i = 0; i < nr_frames; ++i)
        if (::mmap(static_cast<std::byte*>(area) + (i << 12), 4096, prot, MAP_SHARED | MAP_FIXED, pool.raw(),
                   static_cast<off_t>(list[i] << 12)) == MAP_FAILED) {
            int e = errno;
            ::munmap(area, nr_frames << 12);
            errno = e;
            return nullptr;
        }
    auto* res = new (std::nothrow) xenforeignmemory_resource_handle{area, nr_frames};
    if (!res) {
        ::munmap(area, nr_frames << 12);
        errno = ENOMEM;
        return nullptr;
    }
    if (paddr) *paddr = area;
    return res;
}

int xenforeignmemory_unmap_resource(xenforeignmemory_handle*, xenforeignmemory_resource_handle* r) {
    if (!r) return 0;
    int rc = ::munmap(r->addr, r->pages << 12);
    delete r;
    return rc;
}

}
