// libxengnttab.so.1: dom0 maps and copies other domains' grants (Xen's /dev/xen/gntdev).
// A mapped grant is the granting domain's page itself (kxend answers with the RAM pool's fd
// and the page's place in it); kxend keeps the grant in use until the caller unmaps it or
// its connection closes. Grant copies go through the channel's buffer as GNTTABOP_copy.
// Xen's headers declare C functions without extern "C" of their own.
extern "C" {
#include <xengnttab.h>
}
#include <sys/mman.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>
#include <xen/grant_table.h>
#include "xenlibs/handle.hpp"

using kxen::UniqueFd;
using kxen::privcmd::Op;
using kxen::xenlibs::Channel;

namespace {
struct Mapped {
    std::size_t count;
    std::vector<std::uint64_t> handles;
    std::int64_t notify_offset = -1;   // a byte cleared on unmap
    std::int64_t notify_port = -1;     // a dom0 port notified on unmap
};
constexpr std::size_t copy_batch = 128;   // segments per GNTTABOP_copy: one staging page each
}

struct xengntdev_handle {
    xentoolcore__active_handle tc;
    std::unique_ptr<Channel> ch;
    std::mutex mu;
    std::map<std::byte*, Mapped> maps;
    std::int32_t restricted = -1;
};

namespace {

int restrict_cb(xentoolcore__active_handle* ah, domid_t domid) {
    auto* h = reinterpret_cast<xengntdev_handle*>(ah);
    std::lock_guard g{h->mu};
    h->restricted = domid;
    return 0;
}

void unmap_handles(xengntdev_handle* h, Mapped const& m) {
    for (std::size_t i = 0; i < m.handles.size(); ++i) {
        std::uint64_t notify = i == 0 && m.notify_port >= 0 ? static_cast<std::uint64_t>(m.notify_port) + 1 : 0;
        (void)h->ch->call(Op::gnttab_unmap, {m.handles[i], notify, 0, 0, 0, 0});
    }
}

void* map_refs(xengntdev_handle* h, std::uint32_t count, std::uint32_t const* domids, std::uint32_t one_domid,
               std::uint32_t const* refs, int prot, std::int64_t notify_offset = -1, std::int64_t notify_port = -1) {
    if (count == 0 || count > (1u << 20)) {
        errno = EINVAL;
        return nullptr;
    }
    if (notify_offset >= static_cast<std::int64_t>(count) * 4096) {
        errno = EINVAL;
        return nullptr;
    }
    std::lock_guard g{h->mu};
    void* area = ::mmap(nullptr, std::size_t{count} << 12, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return nullptr;
    auto* base = static_cast<std::byte*>(area);
    Mapped m{count, {}, notify_offset, notify_port};
    bool ro = !(prot & PROT_WRITE);
    for (std::uint32_t i = 0; i < count; ++i) {
        auto domid = domids ? domids[i] : one_domid;
        int e = 0;
        if (h->restricted >= 0 && domid != static_cast<std::uint32_t>(h->restricted)) e = EPERM;
        UniqueFd pool;
        std::uint64_t offset = 0;
        std::int64_t r = 0;
        if (!e) {
            r = h->ch->call(Op::gnttab_map, {domid, refs[i], ro ? 1u : 0u, 0, 0, 0}, &pool, &offset);
            // A GNTST_* status or a lost kxend: gntdev's mmap fails with EINVAL for the first.
            if (r < 0) e = r == -EIO ? EIO : EINVAL;
            else if (!pool) e = EIO;
        }
        if (!e && ::mmap(base + (std::size_t{i} << 12), 4096, prot ? prot : PROT_READ, MAP_SHARED | MAP_FIXED,
                         pool.raw(), static_cast<off_t>(offset)) == MAP_FAILED)
            e = errno;
        if (r >= 0 && !e) m.handles.push_back(static_cast<std::uint64_t>(r));
        else if (r >= 0 && pool) (void)h->ch->call(Op::gnttab_unmap, {static_cast<std::uint64_t>(r), 0, 0, 0, 0, 0});
        if (e) {
            m.notify_port = -1;
            unmap_handles(h, m);
            ::munmap(area, std::size_t{count} << 12);
            errno = e;
            return nullptr;
        }
    }
    h->maps.emplace(base, std::move(m));
    return area;
}

} // namespace

extern "C" {

xengnttab_handle* xengnttab_open(xentoollog_logger*, unsigned) {
    return kxen::xenlibs::open_handle<xengnttab_handle>(
        (copy_batch + 4) << 12, "xengnttab: error: Could not open grant table interface", restrict_cb);
}

int xengnttab_close(xengnttab_handle* h) {
    if (h)
        for (auto& [addr, m] : h->maps) ::munmap(addr, m.count << 12);
    return kxen::xenlibs::close_handle(h);
}

int xengnttab_fd(xengnttab_handle* h) { return h->ch->fd(); }

void* xengnttab_map_grant_ref(xengnttab_handle* h, std::uint32_t domid, std::uint32_t ref, int prot) {
    return map_refs(h, 1, nullptr, domid, &ref, prot);
}

void* xengnttab_map_grant_refs(xengnttab_handle* h, std::uint32_t count, std::uint32_t* domids, std::uint32_t* refs,
                               int prot) {
    return map_refs(h, count, domids, 0, refs, prot);
}

void* xengnttab_map_domain_grant_refs(xengnttab_handle* h, std::uint32_t count, std::uint32_t domid,
                                      std::uint32_t* refs, int prot) {
    return map_refs(h, count, nullptr, domid, refs, prot);
}

void* xengnttab_map_grant_ref_notify(xengnttab_handle* h, std::uint32_t domid, std::uint32_t ref, int prot,
                                     std::uint32_t notify_offset, evtchn_port_t notify_port) {
    return map_refs(h, 1, nullptr, domid, &ref, prot, notify_offset == ~0u ? -1 : notify_offset,
                    notify_port == ~0u ? -1 : notify_port);
}

int xengnttab_unmap(xengnttab_handle* h, void* start, std::uint32_t count) {
    std::lock_guard g{h->mu};
    auto it = h->maps.find(static_cast<std::byte*>(start));
    if (it == h->maps.end() || it->second.count != count) {
        errno = EINVAL;
        return -1;
    }
    auto& m = it->second;
    // gntdev's UNMAP_NOTIFY_CLEAR_BYTE: the peer learns the mapping went (vchan uses it).
    if (m.notify_offset >= 0) static_cast<volatile std::byte*>(start)[m.notify_offset] = std::byte{0};
    ::munmap(start, m.count << 12);
    unmap_handles(h, m);
    h->maps.erase(it);
    return 0;
}

int xengnttab_set_max_grants(xengnttab_handle*, std::uint32_t) {
    return 0;   // kxend bounds each connection's maps itself (maptrack)
}

int xengnttab_grant_copy(xengnttab_handle* h, std::uint32_t count, xengnttab_grant_copy_segment_t* segs) {
    std::lock_guard g{h->mu};
    auto* stage = static_cast<std::byte*>(h->ch->alloc_pages(copy_batch));
    auto* ops = static_cast<gnttab_copy_t*>(h->ch->alloc_pages(2));
    if (!stage || !ops) {
        h->ch->free_pages(stage, copy_batch);
        h->ch->free_pages(ops, 2);
        errno = ENOMEM;
        return -1;
    }
    static_assert(copy_batch * sizeof(gnttab_copy_t) <= 2 * 4096);
    int rc = 0;
    for (std::uint32_t first = 0; first < count && rc == 0; first += copy_batch) {
        auto n = std::min<std::uint32_t>(count - first, copy_batch);
        for (std::uint32_t i = 0; i < n; ++i) {
            auto& s = segs[first + i];
            auto& op = ops[i];
            op = {};
            bool src_foreign = s.flags & GNTCOPY_source_gref;
            bool dst_foreign = s.flags & GNTCOPY_dest_gref;
            auto* page = stage + (std::size_t{i} << 12);
            auto local = [&](gnttab_copy::gnttab_copy_ptr& p) {
                p.u.gmfn = reinterpret_cast<std::uintptr_t>(page) >> 12;
                p.domid = DOMID_SELF;
                p.offset = 0;
            };
            auto foreign = [&](gnttab_copy::gnttab_copy_ptr& p, xengnttab_grant_copy_segment::xengnttab_copy_ptr const& f) {
                p.u.ref = f.foreign.ref;
                p.domid = f.foreign.domid;
                p.offset = f.foreign.offset;
            };
            if (src_foreign) foreign(op.source, s.source); else local(op.source);
            if (dst_foreign) foreign(op.dest, s.dest); else local(op.dest);
            op.len = s.len;
            op.flags = s.flags & (GNTCOPY_source_gref | GNTCOPY_dest_gref);
            // Our side is one staging page: a longer copy is not valid on Xen either.
            if (s.len <= 4096 && !src_foreign) std::memcpy(page, s.source.virt, s.len);
        }
        auto r = h->ch->call(Op::hypercall, {__HYPERVISOR_grant_table_op, GNTTABOP_copy,
                                             reinterpret_cast<std::uint64_t>(ops), n, 0, 0});
        if (r < 0) {
            rc = static_cast<int>(kxen::xenlibs::c_result(r));
            break;
        }
        for (std::uint32_t i = 0; i < n; ++i) {
            auto& s = segs[first + i];
            s.status = ops[i].status;
            if (ops[i].status == GNTST_okay && !(s.flags & GNTCOPY_dest_gref) && s.len <= 4096)
                std::memcpy(s.dest.virt, stage + (std::size_t{i} << 12), s.len);
        }
    }
    h->ch->free_pages(stage, copy_batch);
    h->ch->free_pages(ops, 2);
    return rc;
}

// dma-buf export and import need a kernel driver between the grant and the device.
int xengnttab_dmabuf_exp_from_refs(xengnttab_handle*, std::uint32_t, std::uint32_t, std::uint32_t,
                                   std::uint32_t const*, std::uint32_t*) {
    errno = EOPNOTSUPP;
    return -1;
}
int xengnttab_dmabuf_exp_wait_released(xengnttab_handle*, std::uint32_t, std::uint32_t) {
    errno = EOPNOTSUPP;
    return -1;
}
int xengnttab_dmabuf_imp_to_refs(xengnttab_handle*, std::uint32_t, std::uint32_t, std::uint32_t, std::uint32_t*) {
    errno = EOPNOTSUPP;
    return -1;
}
int xengnttab_dmabuf_imp_release(xengnttab_handle*, std::uint32_t) {
    errno = EOPNOTSUPP;
    return -1;
}

// dom0 granting its own pages (Xen's gntalloc) is not offered by kxend: open fails as it does
// on a Xen dom0 without the gntalloc device.
xengntshr_handle* xengntshr_open(xentoollog_logger*, unsigned) {
    errno = ENOENT;
    return nullptr;
}
int xengntshr_close(xengntshr_handle*) { return 0; }
int xengntshr_fd(xengntshr_handle*) {
    errno = EBADF;
    return -1;
}
void* xengntshr_share_pages(xengntshr_handle*, std::uint32_t, int, std::uint32_t*, int) {
    errno = EOPNOTSUPP;
    return nullptr;
}
void* xengntshr_share_page_notify(xengntshr_handle*, std::uint32_t, std::uint32_t*, int, std::uint32_t,
                                  evtchn_port_t) {
    errno = EOPNOTSUPP;
    return nullptr;
}
int xengntshr_unshare(xengntshr_handle*, void*, std::uint32_t) {
    errno = EINVAL;
    return -1;
}

}
