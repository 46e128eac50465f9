// HYPERVISOR_grant_table_op (public/grant_table.h): table setup, version, copy. Mapping a
// grant is a dom0 operation here (privcmd); guests get -ENOSYS for map/unmap.
#include <cstdint>
#include <cstring>
#include <xen/grant_table.h>
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::hv {
namespace {

constexpr std::uint64_t max_batch = 4096;   // kxend does not preempt; bound one call's work

// One side of a grant copy, resolved: bytes in a domain's RAM (grant or own frame), or in the
// dom0 caller's buffer.
struct Side {
    std::shared_ptr<Domain> dom;     // keeps the pages alive while we copy
    std::byte* host = nullptr;       // guest RAM
    std::uint64_t buf_addr = 0;      // dom0: offset in the caller's buffer
    std::uint64_t gpa = 0;           // where host points, in dom's physmap
    bool grant = false;
    std::uint32_t ref = 0;
    bool write = false;
};

std::int16_t resolve(Caller& c, gnttab_copy_t::gnttab_copy_ptr const& p, bool is_gref, bool write,
                     std::uint16_t len, Side& s) {
    if (p.offset >= 4096 || len > 4096 - p.offset) return GNTST_bad_copy_arg;
    s.write = write;
    if (is_gref) {
        std::uint16_t domid = p.domid == DOMID_SELF ? c.id() : p.domid;
        s.dom = domid == 0 ? nullptr : c.hv.lookup(domid);
        if (!s.dom) return GNTST_bad_domain;
        auto acc = s.dom->gnttab().acquire(p.u.ref, c.id(), write);
        if (!acc) return acc.error();
        s.grant = true;
        s.ref = p.u.ref;
        if (p.offset < acc->offset || p.offset + len > acc->offset + acc->length) return GNTST_general_error;
        s.gpa = (acc->gfn << 12) + p.offset;
        s.host = s.dom->gpa_ptr(s.gpa, len);
        return s.host ? GNTST_okay : GNTST_bad_page;
    }
    // A frame of the caller's own: its RAM, or for dom0 a page of its privcmd buffer.
    if (p.domid != DOMID_SELF && p.domid != c.id()) return GNTST_permission_denied;
    if (p.u.gmfn >= (1ull << 40)) return GNTST_bad_page;
    if (!c.dom) {
        s.buf_addr = (p.u.gmfn << 12) + p.offset;
        return GNTST_okay;
    }
    s.dom = c.dom->shared_from_this();
    s.gpa = (p.u.gmfn << 12) + p.offset;
    s.host = c.dom->gpa_ptr(s.gpa, len);
    return s.host ? GNTST_okay : GNTST_bad_page;
}

void release(Side& s) {
    if (s.grant && s.dom) s.dom->gnttab().release(s.ref, s.write);
}

std::int16_t copy_one(Caller& c, gnttab_copy_t const& op) {
    if (op.flags & ~(GNTCOPY_source_gref | GNTCOPY_dest_gref)) return GNTST_general_error;
    Side src, dst;
    std::int16_t st = resolve(c, op.source, op.flags & GNTCOPY_source_gref, false, op.len, src);
    if (st == GNTST_okay) st = resolve(c, op.dest, op.flags & GNTCOPY_dest_gref, true, op.len, dst);
    if (st == GNTST_okay) {
        std::byte tmp[4096];
        bool ok = src.host ? (std::memcpy(tmp, src.host, op.len), true) : c.mem.read(src.buf_addr, tmp, op.len);
        if (ok) ok = dst.host ? (std::memcpy(dst.host, tmp, op.len), true) : c.mem.write(dst.buf_addr, tmp, op.len);
        if (ok && dst.host) dst.dom->mark_dirty(dst.gpa, op.len);
        if (!ok) st = GNTST_bad_page;
    }
    release(src);
    release(dst);
    return st;
}

template <typename Op, typename Fn> long batch(Caller& c, std::uint64_t uop, std::uint64_t count, Fn fn) {
    if (count > max_batch) return xen_ret(XenErr::inval);
    for (std::uint64_t i = 0; i < count; ++i) {
        auto addr = uop + i * sizeof(Op);
        auto op = c.mem.copy_from<Op>(addr);
        if (!op) return xen_ret(XenErr::fault);
        fn(*op);
        if (!c.mem.copy_to(addr, *op)) return xen_ret(XenErr::fault);
    }
    return 0;
}

} // namespace

long do_grant_table_op(Caller& c, Args const& a) {
    auto const cmd = a[0], uop = a[1], count = a[2];
    switch (cmd) {
    case GNTTABOP_copy:
        return batch<gnttab_copy_t>(c, uop, count, [&](gnttab_copy_t& op) { op.status = copy_one(c, op); });
    case GNTTABOP_setup_table:
        return batch<gnttab_setup_table_t>(c, uop, count, [&](gnttab_setup_table_t& op) {
            auto d = target_domain(c, op.dom);
            if (!d) { op.status = GNTST_bad_domain; return; }
            auto frames = (*d)->gnttab().setup(op.nr_frames);
            if (!frames) { op.status = GNTST_general_error; return; }
            for (std::size_t i = 0; i < frames->size(); ++i)
                if (!c.mem.copy_to<xen_pfn_t>(handle_addr(op.frame_list) + i * sizeof(xen_pfn_t), (*frames)[i])) {
                    op.status = GNTST_bad_virt_addr;
                    return;
                }
            op.status = GNTST_okay;
        });
    case GNTTABOP_query_size:
        return batch<gnttab_query_size_t>(c, uop, count, [&](gnttab_query_size_t& op) {
            auto d = target_domain(c, op.dom);
            if (!d) { op.status = GNTST_bad_domain; return; }
            op.nr_frames = (*d)->gnttab().nr_frames();
            op.max_nr_frames = (*d)->gnttab().max_frames();
            op.status = GNTST_okay;
        });
    case GNTTABOP_set_version: {
        if (!c.dom) return xen_ret(XenErr::inval);
        auto op = c.mem.copy_from<gnttab_set_version_t>(uop);
        if (!op) return xen_ret(XenErr::fault);
        if (auto r = c.dom->gnttab().set_version(op->version); !r) return xen_ret(r.error());
        op->version = c.dom->gnttab().version();
        return c.mem.copy_to(uop, *op) ? 0 : xen_ret(XenErr::fault);
    }
    case GNTTABOP_get_version: {
        auto op = c.mem.copy_from<gnttab_get_version_t>(uop);
        if (!op) return xen_ret(XenErr::fault);
        auto d = target_domain(c, op->dom);
        if (!d) return xen_ret(d.error());
        op->version = (*d)->gnttab().version();
        return c.mem.copy_to(uop, *op) ? 0 : xen_ret(XenErr::fault);
    }
    case GNTTABOP_get_status_frames: {
        auto op = c.mem.copy_from<gnttab_get_status_frames_t>(uop);
        if (!op) return xen_ret(XenErr::fault);
        auto d = target_domain(c, op->dom);
        if (!d) { op->status = GNTST_bad_domain; }
        else if (auto f = (*d)->gnttab().status_frames(op->nr_frames); !f) { op->status = GNTST_general_error; }
        else {
            op->status = GNTST_okay;
            for (std::size_t i = 0; i < f->size(); ++i)
                if (!c.mem.copy_to<std::uint64_t>(handle_addr(op->frame_list) + i * 8, (*f)[i])) op->status = GNTST_bad_virt_addr;
        }
        return c.mem.copy_to(uop, *op) ? 0 : xen_ret(XenErr::fault);
    }
    default: return xen_ret(XenErr::nosys);   // map/unmap: dom0 uses privcmd's gnttab_map
    }
}

} // namespace kxen::hv
