#include "hv/compat/compat.hpp"
#include <cstring>
#include <vector>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include "hv/compat/layout.h"

namespace kxen::hv::compat {
namespace {

// Native structures built from a 32-bit guest's arguments live at addresses no 32-bit
// pointer can name, so the native handler's reads and writes of them land here, and all its
// other accesses (the guest's buffers, which keep their layout) go to the guest.
class XlatArea final : public GuestAccess {
public:
    static constexpr std::uint64_t base = 1ull << 40;

    explicit XlatArea(GuestAccess& guest) : guest_{guest} {}

    bool read(std::uint64_t addr, void* dst, std::size_t len) override {
        if (addr < base) return guest_.read(addr, dst, len);
        auto* p = at(addr, len);
        if (!p) return false;
        std::memcpy(dst, p, len);
        return true;
    }
    bool write(std::uint64_t addr, void const* src, std::size_t len) override {
        if (addr < base) return guest_.write(addr, src, len);
        auto* p = at(addr, len);
        if (!p) return false;
        std::memcpy(p, src, len);
        return true;
    }

    // Room for n bytes, 8-aligned; returns its address.
    std::uint64_t alloc(std::size_t n) {
        auto off = (bytes_.size() + 7) & ~std::size_t{7};
        bytes_.resize(off + n);
        return base + off;
    }
    template <typename T> std::uint64_t put(T const& t) {
        auto a = alloc(sizeof t);
        std::memcpy(at(a, sizeof t), &t, sizeof t);
        return a;
    }
    template <typename T> T get(std::uint64_t addr) {
        T t;
        std::memcpy(&t, at(addr, sizeof t), sizeof t);
        return t;
    }

private:
    std::byte* at(std::uint64_t addr, std::size_t len) {
        auto off = addr - base;
        if (off > bytes_.size() || len > bytes_.size() - off) return nullptr;
        return bytes_.data() + off;
    }
    GuestAccess& guest_;
    std::vector<std::byte> bytes_;
};

// The native handler, called as the same caller but reading through the xlat area.
long native(Caller& c, XlatArea& x, std::uint64_t nr, Args const& a) {
    Caller n{c.hv, c.dom, c.vcpu, x};
    return kxen::hv::hypercall(n, nr, a);
}

template <typename T> std::optional<T> copy_in(Caller& c, std::uint64_t addr) { return c.mem.copy_from<T>(addr); }

// Bounds on what one call translates, beyond which the native handler's own limits refuse
// anyway: a guest cannot make kxend allocate more than this for it.
constexpr std::uint64_t max_extents = 1u << 20;   // as the native memory_op
constexpr std::uint32_t max_frames = 4096;        // grant frames listed in one op

long memory_op(Caller& c, Args const& a) {
    XlatArea x{c.mem};
    switch (a[0] & 0x3f) {   // the rest of cmd is a continuation's start extent
    case XENMEM_populate_physmap: {
        auto r = copy_in<compat_memory_reservation>(c, a[1]);
        if (!r) return xen_ret(XenErr::fault);
        if (r->nr_extents > max_extents) return xen_ret(XenErr::inval);
        std::vector<compat_pfn> in(r->nr_extents);
        if (!c.mem.read(r->extent_start, in.data(), in.size() * sizeof(compat_pfn))) return xen_ret(XenErr::fault);
        std::vector<xen_pfn_t> out(in.begin(), in.end());
        auto list = x.alloc(out.size() * sizeof(xen_pfn_t));
        x.write(list, out.data(), out.size() * sizeof(xen_pfn_t));
        xen_memory_reservation_t n{};
        set_xen_guest_handle_raw(n.extent_start, reinterpret_cast<xen_pfn_t*>(list));
        n.nr_extents = r->nr_extents;
        n.extent_order = r->extent_order;
        n.mem_flags = r->mem_flags;
        n.domid = r->domid;
        return native(c, x, __HYPERVISOR_memory_op, {a[0], x.put(n), 0, 0, 0});
    }
    case XENMEM_add_to_physmap: {
        auto r = copy_in<compat_add_to_physmap>(c, a[1]);
        if (!r) return xen_ret(XenErr::fault);
        xen_add_to_physmap_t n{};
        n.domid = r->domid;
        n.size = r->size;
        n.space = r->space;
        n.idx = r->idx;
        n.gpfn = r->gpfn;
        return native(c, x, __HYPERVISOR_memory_op, {a[0], x.put(n), 0, 0, 0});
    }
    case XENMEM_memory_map: {
        auto r = copy_in<compat_memory_map>(c, a[1]);
        if (!r) return xen_ret(XenErr::fault);
        xen_memory_map_t n{};
        n.nr_entries = r->nr_entries;
        set_xen_guest_handle_raw(n.buffer, reinterpret_cast<void*>(std::uint64_t{r->buffer}));
        auto at = x.put(n);
        long rc = native(c, x, __HYPERVISOR_memory_op, {a[0], at, 0, 0, 0});
        if (rc == 0) {
            r->nr_entries = x.get<xen_memory_map_t>(at).nr_entries;
            if (!c.mem.copy_to(a[1], *r)) return xen_ret(XenErr::fault);
        }
        return rc;
    }
    default:
        // Foreign and privileged memory ops are the toolstack's (64-bit dom0); the rest take a
        // domid_t, which has one layout.
        return kxen::hv::hypercall(c, __HYPERVISOR_memory_op, a);
    }
}

long setup_table(Caller& c, std::uint64_t addr) {
    auto op = copy_in<compat_gnttab_setup_table>(c, addr);
    if (!op) return xen_ret(XenErr::fault);
    XlatArea x{c.mem};
    if (op->nr_frames > max_frames) {
        op->status = GNTST_general_error;
        return c.mem.copy_to(addr, *op) ? 0 : xen_ret(XenErr::fault);
    }
    gnttab_setup_table_t n{};
    n.dom = op->dom;
    n.nr_frames = op->nr_frames;
    auto list = x.alloc(std::size_t{op->nr_frames} * sizeof(xen_pfn_t));
    set_xen_guest_handle_raw(n.frame_list, reinterpret_cast<xen_pfn_t*>(list));
    auto at = x.put(n);
    long rc = native(c, x, __HYPERVISOR_grant_table_op, {GNTTABOP_setup_table, at, 1, 0, 0});
    if (rc != 0) return rc;
    op->status = x.get<gnttab_setup_table_t>(at).status;
    if (op->status == GNTST_okay) {
        for (std::uint32_t i = 0; i < op->nr_frames; ++i) {
            auto f = x.get<xen_pfn_t>(list + i * sizeof(xen_pfn_t));
            if (f >> 32) {   // a frame a 32-bit guest cannot name (Xen: GNTST_general_error too)
                op->status = GNTST_general_error;
                break;
            }
            if (!c.mem.copy_to(op->frame_list + i * sizeof(compat_pfn), static_cast<compat_pfn>(f))) {
                op->status = GNTST_bad_virt_addr;
                break;
            }
        }
    }
    return c.mem.copy_to(addr, *op) ? 0 : xen_ret(XenErr::fault);
}

long get_status_frames(Caller& c, std::uint64_t addr) {
    auto op = copy_in<compat_gnttab_get_status_frames>(c, addr);
    if (!op) return xen_ret(XenErr::fault);
    XlatArea x{c.mem};
    gnttab_get_status_frames_t n{};
    n.nr_frames = op->nr_frames;
    n.dom = op->dom;
    set_xen_guest_handle_raw(n.frame_list, reinterpret_cast<std::uint64_t*>(std::uint64_t{op->frame_list}));
    auto at = x.put(n);
    long rc = native(c, x, __HYPERVISOR_grant_table_op, {GNTTABOP_get_status_frames, at, 1, 0, 0});
    if (rc != 0) return rc;
    op->status = x.get<gnttab_get_status_frames_t>(at).status;
    return c.mem.copy_to(addr, *op) ? 0 : xen_ret(XenErr::fault);
}

long copy(Caller& c, std::uint64_t addr) {
    auto op = copy_in<compat_gnttab_copy>(c, addr);
    if (!op) return xen_ret(XenErr::fault);
    XlatArea x{c.mem};
    gnttab_copy_t n{};
    auto ptr = [&](compat_gnttab_copy_ptr const& p, auto& out, bool gref) {
        if (gref) out.u.ref = p.u.ref;
        else out.u.gmfn = p.u.gmfn;
        out.domid = p.domid;
        out.offset = p.offset;
    };
    ptr(op->source, n.source, op->flags & GNTCOPY_source_gref);
    ptr(op->dest, n.dest, op->flags & GNTCOPY_dest_gref);
    n.len = op->len;
    n.flags = op->flags;
    auto at = x.put(n);
    long rc = native(c, x, __HYPERVISOR_grant_table_op, {GNTTABOP_copy, at, 1, 0, 0});
    if (rc != 0) return rc;
    op->status = x.get<gnttab_copy_t>(at).status;
    return c.mem.copy_to(addr, *op) ? 0 : xen_ret(XenErr::fault);
}

// Batched ops are translated one element at a time; Xen's own batch limit still applies,
// through the native handler's count check on a batch it would refuse.
template <typename Op> long batch(Caller& c, Args const& a, long (*one)(Caller&, std::uint64_t)) {
    if (a[2] > 4096) return kxen::hv::hypercall(c, __HYPERVISOR_grant_table_op, a);
    for (std::uint64_t i = 0; i < a[2]; ++i)
        if (long rc = one(c, a[1] + i * sizeof(Op)); rc != 0) return rc;
    return 0;
}

long grant_table_op(Caller& c, Args const& a) {
    switch (a[0]) {
    case GNTTABOP_setup_table: return batch<compat_gnttab_setup_table>(c, a, setup_table);
    case GNTTABOP_copy: return batch<compat_gnttab_copy>(c, a, copy);
    case GNTTABOP_get_status_frames: return get_status_frames(c, a[1]);
    default: return kxen::hv::hypercall(c, __HYPERVISOR_grant_table_op, a);
    }
}

long sched_op(Caller& c, Args const& a) {
    if (a[0] != SCHEDOP_poll) return kxen::hv::hypercall(c, __HYPERVISOR_sched_op, a);
    auto op = copy_in<compat_sched_poll>(c, a[1]);
    if (!op) return xen_ret(XenErr::fault);
    XlatArea x{c.mem};
    sched_poll_t n{};
    set_xen_guest_handle_raw(n.ports, reinterpret_cast<evtchn_port_t*>(std::uint64_t{op->ports}));
    n.nr_ports = op->nr_ports;
    n.timeout = op->timeout;
    return native(c, x, __HYPERVISOR_sched_op, {SCHEDOP_poll, x.put(n), 0, 0, 0});
}

long vcpu_op(Caller& c, Args const& a) {
    XlatArea x{c.mem};
    switch (a[0]) {
    case VCPUOP_get_runstate_info: {
        auto at = x.alloc(sizeof(vcpu_runstate_info_t));
        long rc = native(c, x, __HYPERVISOR_vcpu_op, {a[0], a[1], at, 0, 0});
        if (rc != 0) return rc;
        auto n = x.get<vcpu_runstate_info_t>(at);
        compat_vcpu_runstate_info r{};
        r.state = n.state;
        r.state_entry_time = n.state_entry_time;
        for (int i = 0; i < 4; ++i) r.time[i] = n.time[i];
        return c.mem.copy_to(a[2], r) ? 0 : xen_ret(XenErr::fault);
    }
    case VCPUOP_set_singleshot_timer: {
        auto op = copy_in<compat_vcpu_set_singleshot_timer>(c, a[2]);
        if (!op) return xen_ret(XenErr::fault);
        vcpu_set_singleshot_timer_t n{};
        n.timeout_abs_ns = op->timeout_abs_ns;
        n.flags = op->flags;
        return native(c, x, __HYPERVISOR_vcpu_op, {a[0], a[1], x.put(n), 0, 0});
    }
    default: return kxen::hv::hypercall(c, __HYPERVISOR_vcpu_op, a);
    }
}

long xen_version(Caller& c, Args const& a) {
    if (a[0] != XENVER_platform_parameters) return kxen::hv::hypercall(c, __HYPERVISOR_xen_version, a);
    compat_platform_parameters p{KXEN_COMPAT_VIRT_START};
    return c.mem.copy_to(a[1], p) ? 0 : xen_ret(XenErr::fault);
}

} // namespace

long hypercall(Caller& c, std::uint64_t nr, Args const& a) {
    switch (nr) {
    case __HYPERVISOR_memory_op: return memory_op(c, a);
    case __HYPERVISOR_grant_table_op: return grant_table_op(c, a);
    case __HYPERVISOR_sched_op: return sched_op(c, a);
    case __HYPERVISOR_vcpu_op: return vcpu_op(c, a);
    case __HYPERVISOR_xen_version: return xen_version(c, a);
    case __HYPERVISOR_set_timer_op:
        // The 64-bit deadline comes in two registers: low word first.
        return kxen::hv::hypercall(c, nr, {a[0] | (a[1] << 32), 0, 0, 0, 0});
    default:
        // event_channel_op, hvm_op, console_io: every argument has one layout.
        return kxen::hv::hypercall(c, nr, a);
    }
}

} // namespace kxen::hv::compat
