// HYPERVISOR_memory_op (public/memory.h): populate, shared_info placement, memory map, sizes.
#include <cstdint>
#include <cstring>
#include <xen/memory.h>
#include "common/log.hpp"
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::hv {
namespace {

constexpr std::uint64_t max_extents = 1u << 20;
// public/memory.h: cmd[:6] is a continuation's start extent; kxend never preempts, so it is 0.
constexpr std::uint64_t memop_cmd_mask = (1u << 6) - 1;

// Consecutive extents are merged into one run, so a domain's RAM is a handful of memslots.
long populate_physmap(Caller& c, std::uint64_t arg) {
    auto r = c.mem.copy_from<xen_memory_reservation_t>(arg);
    if (!r) return xen_ret(XenErr::fault);
    auto d = target_domain(c, r->domid);
    if (!d) return xen_ret(d.error());
    if (r->extent_order > 18 || r->nr_extents > max_extents) return xen_ret(XenErr::inval);
    std::uint64_t const per = 1ull << r->extent_order;
    if ((*d)->p2m().pages() + r->nr_extents * per > (*d)->max_pages.load()) return xen_ret(XenErr::nomem);
    auto base = handle_addr(r->extent_start);
    std::uint64_t done = 0, run_start = 0, run_len = 0;
    auto flush = [&]() -> bool {
        if (!run_len) return true;
        auto p = (*d)->p2m().populate(Gfn{run_start}, run_len);
        if (!p) log::warn("d{}: populate_physmap gfn {:#x}+{:#x}: {}", (*d)->id(), run_start, run_len, p.error().message());
        run_len = 0;
        return p.has_value();
    };
    for (; done < r->nr_extents; ++done) {
        auto gfn = c.mem.copy_from<xen_pfn_t>(base + done * sizeof(xen_pfn_t));
        if (!gfn) return xen_ret(XenErr::fault);
        if (*gfn & (per - 1)) return xen_ret(XenErr::inval);
        if (run_len && *gfn == run_start + run_len) {
            run_len += per;
            continue;
        }
        if (!flush()) return static_cast<long>(done > 0 ? done - 1 : 0);
        run_start = *gfn;
        run_len = per;
    }
    if (!flush()) return 0;
    return static_cast<long>(done);
}

long add_to_physmap(Caller& c, std::uint64_t arg) {
    auto op = c.mem.copy_from<xen_add_to_physmap_t>(arg);
    if (!op) return xen_ret(XenErr::fault);
    auto d = target_domain(c, op->domid);
    if (!d) return xen_ret(d.error());
    switch (op->space) {
    case XENMAPSPACE_shared_info: {
        if (op->idx != 0) return xen_ret(XenErr::inval);
        if (op->gpfn >= (1ull << 40)) return xen_ret(XenErr::inval);
        // Xen replaces the RAM page at gpfn by shared_info; kxend makes that page *be*
        // shared_info (the guest loses the old contents either way). Outside RAM, back it.
        auto* p = (*d)->gpa_ptr(op->gpfn << 12, 4096);
        if (!p) {
            if (auto r = (*d)->p2m().populate(Gfn{op->gpfn}, 1); !r) return xen_ret(XenErr::nomem);
            p = (*d)->gpa_ptr(op->gpfn << 12, 4096);
            if (!p) return xen_ret(XenErr::nomem);
        }
        std::memset(p, 0, 4096);
        (*d)->hold_page(op->gpfn);
        auto* s = reinterpret_cast<shared_info*>(p);
        (*d)->map_shared_info(s, op->gpfn);
        for (std::uint32_t i = 0; i < (*d)->max_vcpus(); ++i)
            if (auto* vi = (*d)->vcpu(i)->info()) (*d)->hv().clock().update(vi->time);
        return 0;
    }
    case XENMAPSPACE_grant_table: {
        // As shared_info: the page at gpfn becomes the grant frame (backed first if not RAM).
        if (op->gpfn >= (1ull << 40)) return xen_ret(XenErr::inval);
        bool status = op->idx & XENMAPIDX_grant_table_status;
        auto idx = op->idx & ~static_cast<xen_ulong_t>(XENMAPIDX_grant_table_status);
        if (idx >= (*d)->gnttab().max_frames() * 8u) return xen_ret(XenErr::inval);
        auto* p = (*d)->gpa_ptr(op->gpfn << 12, 4096);
        if (!p) {
            if (auto r = (*d)->p2m().populate(Gfn{op->gpfn}, 1); !r) return xen_ret(XenErr::nomem);
            p = (*d)->gpa_ptr(op->gpfn << 12, 4096);
            if (!p) return xen_ret(XenErr::nomem);
        }
        if (auto r = (*d)->gnttab().map_frame(idx, status, p, op->gpfn); !r) return xen_ret(r.error());
        (*d)->hold_page(op->gpfn);
        return 0;
    }
    default: return xen_ret(XenErr::inval);
    }
}

// dom0 maps a domain's resource. Only the grant table's shared frames are offered (what
// libxenguest seeds the console and xenstore entries through); for a dom0 process the
// frames come back as pages of the RAM pool ("mfns"), which it maps from the pool's fd.
long acquire_resource(Caller& c, std::uint64_t arg) {
    if (!c.privileged()) return xen_ret(XenErr::perm);
    auto op = c.mem.copy_from<xen_mem_acquire_resource_t>(arg);
    if (!op) return xen_ret(XenErr::fault);
    auto d = target_domain(c, op->domid);
    if (!d) return xen_ret(d.error());
    if (op->type != XENMEM_resource_grant_table || op->id != XENMEM_resource_grant_table_id_shared) {
        note_unimplemented(__HYPERVISOR_memory_op, (std::uint64_t{op->type} << 32) | op->id);
        return xen_ret(XenErr::opnotsupp);
    }
    auto max = (*d)->gnttab().max_frames();
    if (op->nr_frames == 0) {   // a size query
        op->nr_frames = max;
        return c.mem.copy_to(arg, *op) ? 0 : xen_ret(XenErr::fault);
    }
    if (op->nr_frames > 32) return xen_ret(XenErr::e2big);   // Xen's limit per call
    if (op->frame >= max || op->nr_frames > max - op->frame) return xen_ret(XenErr::inval);
    for (std::uint32_t i = 0; i < op->nr_frames; ++i) {
        auto off = (*d)->grant_frame_offset(op->frame + i);
        if (!off) return xen_ret(XenErr::nomem);
        xen_pfn_t mfn = *off >> 12;
        if (!c.mem.copy_to(handle_addr(op->frame_list) + i * sizeof mfn, mfn)) return xen_ret(XenErr::fault);
    }
    return 0;
}

long memory_map(Caller& c, std::uint64_t arg) {
    if (!c.dom) return xen_ret(XenErr::inval);
    auto m = c.mem.copy_from<xen_memory_map_t>(arg);
    if (!m) return xen_ret(XenErr::fault);
    auto map = c.dom->memory_map();
    if (map.empty()) return xen_ret(XenErr::nosys);
    auto n = std::min<std::uint64_t>(m->nr_entries, map.size());
    if (!c.mem.write(handle_addr(m->buffer), map.data(), n * sizeof(E820Entry))) return xen_ret(XenErr::fault);
    m->nr_entries = static_cast<unsigned>(n);
    return c.mem.copy_to(arg, *m) ? 0 : xen_ret(XenErr::fault);
}

long set_memory_map(Caller& c, std::uint64_t arg) {
    if (!c.privileged()) return xen_ret(XenErr::perm);
    auto m = c.mem.copy_from<xen_foreign_memory_map_t>(arg);
    if (!m) return xen_ret(XenErr::fault);
    auto d = target_domain(c, m->domid);
    if (!d) return xen_ret(d.error());
    if (m->map.nr_entries > 128) return xen_ret(XenErr::inval);   // Xen's E820MAX
    std::vector<E820Entry> map(m->map.nr_entries);
    if (!c.mem.read(handle_addr(m->map.buffer), map.data(), map.size() * sizeof(E820Entry)))
        return xen_ret(XenErr::fault);
    (*d)->set_memory_map(std::move(map));
    return 0;
}

long reservation(Caller& c, std::uint64_t arg, bool maximum) {
    auto id = c.mem.copy_from<domid_t>(arg);
    if (!id) return xen_ret(XenErr::fault);
    auto d = target_domain(c, *id);
    if (!d) return xen_ret(d.error());
    return static_cast<long>(maximum ? (*d)->max_pages.load() : (*d)->p2m().pages());
}

// kxend never populates on demand, so every domain is one whose PoD target is its allocation:
// Xen answers a set there with nothing to do ("P == B" in p2m_pod_set_mem_target) and reports
// the sizes. libxl sets it on every memory target change (`xl mem-set`, `virsh setmem`).
long pod_target(Caller& c, std::uint64_t arg) {
    if (!c.privileged()) return xen_ret(XenErr::perm);
    auto t = c.mem.copy_from<xen_pod_target_t>(arg);
    if (!t) return xen_ret(XenErr::fault);
    auto d = target_domain(c, t->domid);
    if (!d) return xen_ret(d.error());
    t->tot_pages = (*d)->p2m().pages();
    t->pod_cache_pages = 0;
    t->pod_entries = 0;
    return c.mem.copy_to(arg, *t) ? 0 : xen_ret(XenErr::fault);
}

} // namespace

long do_memory_op(Caller& c, Args const& a) {
    switch (a[0] & memop_cmd_mask) {
    case XENMEM_populate_physmap: return populate_physmap(c, a[1]);
    case XENMEM_add_to_physmap: return add_to_physmap(c, a[1]);
    case XENMEM_memory_map: return memory_map(c, a[1]);
    case XENMEM_set_memory_map: return set_memory_map(c, a[1]);
    case XENMEM_current_reservation: return reservation(c, a[1], false);
    case XENMEM_maximum_reservation: return reservation(c, a[1], true);
    case XENMEM_maximum_ram_page: return static_cast<long>(c.hv.pool().size() >> 12);
    case XENMEM_acquire_resource: return acquire_resource(c, a[1]);
    case XENMEM_get_vnumainfo: {
        // Xen's answer for a domain given no virtual NUMA layout, which no kxen domain has;
        // libxl's save refuses anything else ("Cannot save a guest with vNUMA configured").
        auto t = c.mem.copy_from<xen_vnuma_topology_info>(a[1]);
        if (!t) return xen_ret(XenErr::fault);
        auto d = target_domain(c, t->domid);
        if (!d) return xen_ret(d.error());
        return xen_ret(XenErr::opnotsupp);
    }
    case XENMEM_set_pod_target:
    case XENMEM_get_pod_target: return pod_target(c, a[1]);
    case XENMEM_get_sharing_freed_pages:
    case XENMEM_get_sharing_shared_pages: return 0;   // no memory sharing here
    case XENMEM_maximum_gpfn: {
        auto id = c.mem.copy_from<domid_t>(a[1]);
        if (!id) return xen_ret(XenErr::fault);
        auto d = target_domain(c, *id);
        if (!d) return xen_ret(d.error());
        auto end = (*d)->p2m().max_gfn();
        return static_cast<long>(end ? end - 1 : 0);
    }
    default: return xen_ret(XenErr::nosys);
    }
}

} // namespace kxen::hv
