#include <cstdint>
#include "privcmd/client.hpp"
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cstdlib>
#include <xen/hvm/hvm_op.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/grant_table.h>
#include "privcmd/fd_passing.hpp"

namespace kxen::privcmd {

std::string xen_strerror(XenErr e) { return std::strerror(static_cast<int>(e)); }

SysResult<Client> Client::connect(std::string const& path, std::size_t buffer_bytes) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return sys_fail(ENAMETOOLONG, path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd{::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)};
    if (!fd) return sys_fail("socket");
    if (::connect(fd.raw(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        return sys_fail("connect to kxend at " + path);
    UniqueFd mem{::memfd_create("kxen-privcmd-buffer", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
    if (!mem) return sys_fail("memfd_create");
    if (::ftruncate(mem.raw(), static_cast<off_t>(buffer_bytes)) < 0) return sys_fail("ftruncate");
    auto map = Mapping::shared(mem.raw(), buffer_bytes);
    if (!map) return std::unexpected(map.error());
    Client c{std::move(fd), std::move(*map)};
    auto r = c.call(Op::hello, {buffer_bytes, 0, 0, 0, 0, 0}, nullptr, mem.raw());
    if (!r) return std::unexpected(r.error());
    if (r->ret < 0) return sys_fail(static_cast<int>(-r->ret), "privcmd hello");
    return c;
}

SysResult<Reply> Client::call(Op op, std::array<std::uint64_t, 6> a, UniqueFd* fd_out, int fd_in) {
    Request rq{magic, op, {a[0], a[1], a[2], a[3], a[4], a[5]}};
    if (auto r = send_msg(fd_.raw(), &rq, sizeof rq, fd_in); !r) return std::unexpected(r.error());
    Reply rp{};
    auto n = recv_msg(fd_.raw(), &rp, sizeof rp, fd_out);
    if (!n) return std::unexpected(n.error());
    if (*n != sizeof rp) return sys_fail(ECONNRESET, "kxend closed the connection");
    return rp;
}

std::uint64_t Client::stage(void const* p, std::size_t len) {
    std::size_t off = (used_ + 15) & ~std::size_t{15};
    if (off + len > buf_.size()) off = 16;   // callers never stage more than the buffer holds
    if (len && p) std::memcpy(buf_.data() + off, p, len);   // p null: room for a result
    used_ = off + len;
    return off;
}

namespace {
XenResult<void> check(SysResult<Reply> const& r) {
    if (!r) return xen_fail(XenErr::io);
    if (r->ret < 0) return xen_fail(static_cast<XenErr>(-r->ret));
    return {};
}
} // namespace

std::int64_t Client::hypercall(std::uint64_t nr, std::uint64_t a0, std::uint64_t a1, std::uint64_t a2,
                               std::uint64_t a3, std::uint64_t a4) {
    auto r = call(Op::hypercall, {nr, a0, a1, a2, a3, a4});
    return r ? r->ret : -static_cast<std::int64_t>(XenErr::io);
}

XenResult<void> Client::domctl(xen_domctl& op) {
    reset();
    return domctl_staged(op);
}

XenResult<void> Client::sysctl(xen_sysctl& op) {
    reset();
    return sysctl_staged(op);
}

// One in-out structure argument (domctl, sysctl): stage it, call, copy the result back.
template <typename Arg> XenResult<void> Client::struct_call(std::uint64_t nr, Arg& op) {
    auto off = stage(op);
    auto r = call(Op::hypercall, {nr, off, 0, 0, 0, 0});
    if (auto c = check(r); !c) return c;
    fetch(off, &op, sizeof op);
    return {};
}

XenResult<void> Client::domctl_staged(xen_domctl& op) {
    op.interface_version = XEN_DOMCTL_INTERFACE_VERSION;
    return struct_call(__HYPERVISOR_domctl, op);
}

XenResult<void> Client::sysctl_staged(xen_sysctl& op) {
    op.interface_version = XEN_SYSCTL_INTERFACE_VERSION;
    return struct_call(__HYPERVISOR_sysctl, op);
}

XenResult<std::uint16_t> Client::create_domain(xen_domain_handle_t const uuid, std::uint32_t max_vcpus,
                                               std::uint16_t want) {
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_createdomain;
    op.domain = want;
    auto& cd = op.u.createdomain;
    std::memcpy(cd.handle, uuid, sizeof cd.handle);
    cd.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap;
    cd.max_vcpus = max_vcpus;
    cd.max_evtchn_port = 1023;
    cd.max_grant_frames = 32;
    cd.max_maptrack_frames = 1024;
    if (auto r = domctl(op); !r) return xen_fail(r.error());
    return op.domain;
}

namespace {
XenResult<void> simple(Client& c, std::uint32_t cmd, std::uint16_t domid) {
    xen_domctl op{};
    op.cmd = cmd;
    op.domain = domid;
    return c.domctl(op);
}
} // namespace

XenResult<void> Client::destroy_domain(std::uint16_t d) { return simple(*this, XEN_DOMCTL_destroydomain, d); }
XenResult<void> Client::pause(std::uint16_t d) { return simple(*this, XEN_DOMCTL_pausedomain, d); }
XenResult<void> Client::unpause(std::uint16_t d) { return simple(*this, XEN_DOMCTL_unpausedomain, d); }

XenResult<void> Client::max_mem(std::uint16_t domid, std::uint64_t kb) {
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_max_mem;
    op.domain = domid;
    op.u.max_mem.max_memkb = kb;
    return domctl(op);
}

XenResult<xen_domctl_getdomaininfo_t> Client::domain_info(std::uint16_t domid) {
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_getdomaininfo;
    op.domain = domid;
    if (auto r = domctl(op); !r) return xen_fail(r.error());
    if (op.u.getdomaininfo.domain != domid) return xen_fail(XenErr::srch);
    return op.u.getdomaininfo;
}

XenResult<std::vector<xen_domctl_getdomaininfo_t>> Client::domain_list() {
    std::vector<xen_domctl_getdomaininfo_t> all;
    std::uint16_t first = 0;
    constexpr std::uint32_t batch = 1024;
    while (true) {
        reset();
        xen_sysctl op{};
        op.cmd = XEN_SYSCTL_getdomaininfolist;
        auto& l = op.u.getdomaininfolist;
        l.first_domain = first;
        l.max_domains = batch;
        std::vector<xen_domctl_getdomaininfo_t> tmp(batch);
        auto buf = stage(tmp.data(), tmp.size() * sizeof tmp[0]);
        l.buffer.p = reinterpret_cast<xen_domctl_getdomaininfo_t*>(buf);
        if (auto r = sysctl_staged(op); !r) return xen_fail(r.error());
        fetch(buf, tmp.data(), l.num_domains * sizeof tmp[0]);
        // Xen's list starts with dom0 (the host here); the toolstack's callers want guests.
        for (std::uint32_t i = 0; i < l.num_domains; ++i)
            if (tmp[i].domain != 0) all.push_back(tmp[i]);
        if (l.num_domains < batch) break;
        first = static_cast<std::uint16_t>(tmp[l.num_domains - 1].domain + 1);
    }
    return all;
}

XenResult<xen_sysctl_physinfo> Client::physinfo() {
    xen_sysctl op{};
    op.cmd = XEN_SYSCTL_physinfo;
    if (auto r = sysctl(op); !r) return xen_fail(r.error());
    return op.u.physinfo;
}

XenResult<std::string> Client::read_console(bool clear) {
    reset();
    constexpr std::uint32_t max = 1 << 20;
    xen_sysctl op{};
    op.cmd = XEN_SYSCTL_readconsole;
    auto& rc = op.u.readconsole;
    rc.clear = clear;
    rc.count = max;
    auto buf = stage(nullptr, 0);
    used_ = buf + max;
    rc.buffer.p = reinterpret_cast<char*>(buf);
    if (auto r = sysctl_staged(op); !r) return xen_fail(r.error());
    std::string s(rc.count, '\0');
    fetch(buf, s.data(), s.size());
    return s;
}

XenResult<std::vector<std::pair<std::uint64_t, std::uint64_t>>> Client::populate_physmap(std::uint16_t domid,
                                                                                        std::uint64_t gfn,
                                                                                        std::uint64_t count) {
    // 2 MiB extents where aligned, 4 KiB ones around them, as libxc's populate does.
    auto big = [&] { return gfn % 512 == 0 && count >= 512; };
    std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
    while (count) {
        auto const first = gfn;
        reset();
        std::vector<xen_pfn_t> gfns;
        unsigned const order = big() ? 9 : 0;
        do {
            gfns.push_back(gfn);
            gfn += 1ull << order;
            count -= 1ull << order;
        } while (count && gfns.size() < 65536 && big() == (order == 9));
        xen_memory_reservation_t res{};
        res.domid = domid;
        res.extent_order = order;
        res.nr_extents = gfns.size();
        res.extent_start.p = reinterpret_cast<xen_pfn_t*>(stage(gfns.data(), gfns.size() * sizeof(xen_pfn_t)));
        auto n = hypercall(__HYPERVISOR_memory_op, XENMEM_populate_physmap, stage(res));
        if (n < 0) return xen_fail(static_cast<XenErr>(-n));
        if (static_cast<std::size_t>(n) != gfns.size()) return xen_fail(XenErr::nomem);
        runs.emplace_back(first, gfn - first);
    }
    return runs;
}

XenResult<void> Client::set_memory_map(std::uint16_t domid, std::span<std::uint8_t const> e820, unsigned nr) {
    reset();
    xen_foreign_memory_map_t m{};
    m.domid = domid;
    m.map.nr_entries = nr;
    m.map.buffer.p = reinterpret_cast<void*>(stage(e820.data(), e820.size()));
    auto n = hypercall(__HYPERVISOR_memory_op, XENMEM_set_memory_map, stage(m));
    if (n < 0) return xen_fail(static_cast<XenErr>(-n));
    return {};
}

XenResult<void> Client::set_hvm_param(std::uint16_t domid, std::uint32_t index, std::uint64_t value) {
    reset();
    xen_hvm_param_t p{};
    p.domid = domid;
    p.index = index;
    p.value = value;
    auto n = hypercall(__HYPERVISOR_hvm_op, HVMOP_set_param, stage(p));
    if (n < 0) return xen_fail(static_cast<XenErr>(-n));
    return {};
}

XenResult<std::uint64_t> Client::get_hvm_param(std::uint16_t domid, std::uint32_t index) {
    reset();
    xen_hvm_param_t p{};
    p.domid = domid;
    p.index = index;
    auto off = stage(p);
    auto n = hypercall(__HYPERVISOR_hvm_op, HVMOP_get_param, off);
    if (n < 0) return xen_fail(static_cast<XenErr>(-n));
    fetch(off, &p, sizeof p);
    return p.value;
}

XenResult<void> Client::set_vcpu_context(std::uint16_t domid, std::uint32_t vcpu, void const* ctx, std::size_t len) {
    reset();
    auto c = stage(ctx, len);
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_setvcpucontext;
    op.domain = domid;
    op.u.vcpucontext.vcpu = vcpu;
    op.u.vcpucontext.ctxt.p = reinterpret_cast<vcpu_guest_context_t*>(c);
    return domctl_staged(op);
}

XenResult<void> Client::remote_shutdown(std::uint16_t domid, unsigned reason) {
    reset();
    sched_remote_shutdown_t s{};
    s.domain_id = domid;
    s.reason = reason;
    auto n = hypercall(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, stage(s));
    if (n < 0) return xen_fail(static_cast<XenErr>(-n));
    return {};
}

XenResult<long> Client::xen_version(int cmd, void* out, std::size_t out_len) {
    reset();
    auto off = stage(nullptr, 0);
    used_ = off + std::max<std::size_t>(out_len, 16);
    if (out && out_len) std::memcpy(buf_.data() + off, out, out_len);
    auto n = hypercall(__HYPERVISOR_xen_version, static_cast<std::uint64_t>(cmd), off);
    if (n < 0) return xen_fail(static_cast<XenErr>(-n));
    if (out && out_len) fetch(off, out, out_len);
    return static_cast<long>(n);
}

XenResult<PoolRange> Client::pool_range(std::uint16_t domid, std::uint64_t gfn, std::uint64_t count) {
    UniqueFd ram;
    auto r = call(Op::map_foreign, {domid, gfn, count, 1, 0, 0}, &ram);
    if (auto c = check(r); !c) return xen_fail(c.error());
    if (!ram) return xen_fail(XenErr::io);
    return PoolRange{std::move(ram), r->val[0]};
}

XenResult<std::uint32_t> Client::shadow_op(std::uint16_t domid, std::uint32_t op, std::span<std::uint64_t> bitmap,
                                           std::uint32_t mode) {
    reset();
    auto const bytes = bitmap.size_bytes();
    if (bytes + 4096 > buf_.size()) return xen_fail(XenErr::e2big);
    auto b = stage(nullptr, bytes);
    xen_domctl d{};
    d.cmd = XEN_DOMCTL_shadow_op;
    d.domain = domid;
    auto& so = d.u.shadow_op;
    so.op = op;
    so.mode = mode;
    so.dirty_bitmap.p = reinterpret_cast<std::uint8_t*>(b);
    so.pages = bitmap.size() * 64;
    if (auto r = domctl_staged(d); !r) return xen_fail(r.error());
    if (bytes) {   // ENABLE/OFF carry no bitmap (and an empty span's data() may be null)
        std::memset(bitmap.data(), 0, bytes);
        fetch(b, bitmap.data(), std::min<std::size_t>(bytes, (so.pages + 7) / 8));
    }
    return so.stats.dirty_count;
}

XenResult<std::uint64_t> Client::max_gpfn(std::uint16_t domid) {
    reset();
    domid_t d = domid;
    auto n = hypercall(__HYPERVISOR_memory_op, XENMEM_maximum_gpfn, stage(d));
    if (n < 0) return xen_fail(static_cast<XenErr>(-n));
    return static_cast<std::uint64_t>(n);
}

XenResult<void> Client::page_types(std::uint16_t domid, std::span<xen_pfn_t> pfns) {
    reset();
    auto b = stage(pfns.data(), pfns.size_bytes());
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_getpageframeinfo3;
    op.domain = domid;
    op.u.getpageframeinfo3.num = pfns.size();
    op.u.getpageframeinfo3.array.p = reinterpret_cast<xen_pfn_t*>(b);
    if (auto r = domctl_staged(op); !r) return r;
    fetch(b, pfns.data(), pfns.size_bytes());
    return {};
}

XenResult<std::vector<std::uint8_t>> Client::get_hvm_context(std::uint16_t domid) {
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_gethvmcontext;
    op.domain = domid;
    if (auto r = domctl(op); !r) return xen_fail(r.error());
    auto size = op.u.hvmcontext.size;
    if (size + 4096 > buf_.size()) return xen_fail(XenErr::e2big);
    reset();
    auto b = stage(nullptr, size);
    op.u.hvmcontext.buffer.p = reinterpret_cast<std::uint8_t*>(b);
    if (auto r = domctl_staged(op); !r) return xen_fail(r.error());
    std::vector<std::uint8_t> out(op.u.hvmcontext.size);
    fetch(b, out.data(), out.size());
    return out;
}

XenResult<std::vector<xen_cpuid_leaf_t>> Client::cpuid_policy(std::uint16_t domid) {
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_get_cpu_policy;
    op.domain = domid;
    if (auto r = domctl(op); !r) return xen_fail(r.error());   // null buffers: the sizes
    auto bytes = op.u.cpu_policy.nr_leaves * sizeof(xen_cpuid_leaf_t);
    if (bytes + 4096 > buf_.size()) return xen_fail(XenErr::e2big);
    reset();
    auto b = stage(nullptr, bytes);
    op.u.cpu_policy.leaves.p = reinterpret_cast<xen_cpuid_leaf_t*>(b);
    op.u.cpu_policy.nr_msrs = 0;
    if (auto r = domctl_staged(op); !r) return xen_fail(r.error());
    std::vector<xen_cpuid_leaf_t> out(op.u.cpu_policy.nr_leaves);
    fetch(b, out.data(), out.size() * sizeof(xen_cpuid_leaf_t));
    return out;
}

XenResult<void> Client::set_hvm_context(std::uint16_t domid, std::span<std::uint8_t const> blob) {
    if (blob.size() + 4096 > buf_.size()) return xen_fail(XenErr::e2big);
    reset();
    auto b = stage(blob.data(), blob.size());
    xen_domctl op{};
    op.cmd = XEN_DOMCTL_sethvmcontext;
    op.domain = domid;
    op.u.hvmcontext.size = static_cast<std::uint32_t>(blob.size());
    op.u.hvmcontext.buffer.p = reinterpret_cast<std::uint8_t*>(b);
    return domctl_staged(op);
}

XenResult<void> Client::resume_domain(std::uint16_t d) { return simple(*this, XEN_DOMCTL_resumedomain, d); }

XenResult<ForeignMap> Client::map_foreign(std::uint16_t domid, std::uint64_t gfn, std::uint64_t count,
                                          bool readonly) {
    UniqueFd ram;
    auto r = call(Op::map_foreign, {domid, gfn, count, readonly ? 1u : 0u, 0, 0}, &ram);
    if (auto c = check(r); !c) return xen_fail(c.error());
    if (!ram) return xen_fail(XenErr::io);
    auto m = Mapping::shared(ram.raw(), count * 4096, static_cast<off_t>(r->val[0]),
                             readonly ? PROT_READ : PROT_READ | PROT_WRITE);
    if (!m) return xen_fail(XenErr::nomem);
    return ForeignMap{std::move(*m)};
}

XenResult<ForeignMap> Client::map_grant_frame(std::uint16_t domid, std::uint32_t idx) {
    reset();
    xen_mem_acquire_resource op{};
    op.domid = domid;
    op.type = XENMEM_resource_grant_table;
    op.id = XENMEM_resource_grant_table_id_shared;
    op.frame = idx;
    op.nr_frames = 1;
    auto list = stage(nullptr, sizeof(xen_pfn_t));
    op.frame_list.p = reinterpret_cast<xen_pfn_t*>(list);
    auto off = stage(op);
    if (auto n = hypercall(__HYPERVISOR_memory_op, XENMEM_acquire_resource, off); n < 0)
        return xen_fail(static_cast<XenErr>(-n));
    xen_pfn_t mfn = 0;
    fetch(list, &mfn, sizeof mfn);
    UniqueFd ram;
    auto r = call(Op::ram_pool, {}, &ram);
    if (auto c = check(r); !c) return xen_fail(c.error());
    if (!ram) return xen_fail(XenErr::io);
    auto m = Mapping::shared(ram.raw(), 4096, static_cast<off_t>(mfn << 12));
    if (!m) return xen_fail(XenErr::nomem);
    return ForeignMap{std::move(*m)};
}

XenResult<std::string> Client::console_read(std::uint16_t domid, std::uint64_t& pos, int wait_ms) {
    reset();
    constexpr std::uint64_t max = 64 << 10;
    auto off = stage(nullptr, 0);
    used_ = off + max;
    auto r = call(Op::console_read, {domid, pos, off, max, static_cast<std::uint64_t>(wait_ms), 0});
    if (auto c = check(r); !c) return xen_fail(c.error());
    std::string s(static_cast<std::size_t>(r->ret), '\0');
    fetch(off, s.data(), s.size());
    pos = r->val[0];
    return s;
}

XenResult<std::uint64_t> Client::domain_wait(std::uint16_t domid, std::uint64_t seen, int wait_ms) {
    auto r = call(Op::domain_wait, {domid, seen, static_cast<std::uint64_t>(wait_ms), 0, 0, 0});
    if (auto c = check(r); !c) return xen_fail(c.error());
    return r->val[0];
}

XenResult<void> Client::set_name(std::uint16_t domid, std::string const& name) {
    reset();
    auto off = stage(name.data(), name.size());
    return check(call(Op::set_name, {domid, off, name.size(), 0, 0, 0}));
}

XenResult<void> Client::guard(std::uint16_t domid, Guard g, bool cooperative) {
    reset();
    return check(call(Op::domain_guard, {domid, static_cast<std::uint64_t>(g), cooperative ? 1u : 0u, 0, 0, 0}));
}

XenResult<void> Client::guard_commit(std::uint16_t domid, int connection, std::size_t go_bytes, std::string_view report) {
    reset();
    auto off = stage(report.data(), report.size());
    return check(call(Op::domain_guard, {domid, static_cast<std::uint64_t>(Guard::commit), 0, go_bytes, off, report.size()},
                      nullptr, connection));
}

XenResult<void> Client::guard_sent(std::uint16_t domid, int connection, std::size_t report_bytes, bool cooperative) {
    reset();
    return check(call(Op::domain_guard,
                      {domid, static_cast<std::uint64_t>(Guard::sent), cooperative ? 1u : 0u, report_bytes, 0, 0}, nullptr,
                      connection));
}

XenResult<std::string> Client::get_name(std::uint16_t domid) {
    reset();
    auto off = stage(nullptr, 0);
    used_ = off + 64;
    auto r = call(Op::get_name, {domid, off, 64, 0, 0, 0});
    if (auto c = check(r); !c) return xen_fail(c.error());
    std::string s(static_cast<std::size_t>(r->ret), '\0');
    fetch(off, s.data(), s.size());
    return s;
}

namespace {
XenResult<Client::BoundPort> bound(SysResult<Reply> const& r, UniqueFd& fd) {
    if (!r) return xen_fail(XenErr::io);
    if (r->ret < 0) return xen_fail(static_cast<XenErr>(-r->ret));
    if (!fd) return xen_fail(XenErr::io);
    return Client::BoundPort{static_cast<std::uint32_t>(r->ret), std::move(fd)};
}
} // namespace

XenResult<Client::BoundPort> Client::evtchn_bind_interdomain(std::uint16_t domid, std::uint32_t remote_port) {
    UniqueFd fd;
    auto r = call(Op::evtchn_bind, {domid, remote_port, 0, 0, 0, 0}, &fd);
    return bound(r, fd);
}

XenResult<Client::BoundPort> Client::evtchn_alloc_unbound(std::uint16_t remote_domid) {
    UniqueFd fd;
    auto r = call(Op::evtchn_bind, {remote_domid, ~0ull, 0, 0, 0, 0}, &fd);
    return bound(r, fd);
}

XenResult<Client::BoundPort> Client::evtchn_bind_virq(std::uint32_t virq) {
    UniqueFd fd;
    auto r = call(Op::evtchn_bind_virq, {virq, 0, 0, 0, 0, 0}, &fd);
    return bound(r, fd);
}

XenResult<void> Client::evtchn_notify(std::uint32_t port) { return check(call(Op::evtchn_notify, {port, 0, 0, 0, 0, 0})); }
XenResult<void> Client::evtchn_unbind(std::uint32_t port) { return check(call(Op::evtchn_unbind, {port, 0, 0, 0, 0, 0})); }

std::expected<Client::GrantMap, std::int16_t> Client::gnttab_map(std::uint16_t domid, std::uint32_t ref, bool readonly) {
    UniqueFd ram;
    auto r = call(Op::gnttab_map, {domid, ref, readonly ? 1u : 0u, 0, 0, 0}, &ram);
    if (!r) return std::unexpected(std::int16_t{-1});
    if (r->ret < 0) return std::unexpected(static_cast<std::int16_t>(r->ret));
    if (!ram) return std::unexpected(std::int16_t{-1});
    auto m = Mapping::shared(ram.raw(), 4096, static_cast<off_t>(r->val[0]),
                             readonly ? PROT_READ : PROT_READ | PROT_WRITE);
    if (!m) {
        (void)gnttab_unmap(static_cast<std::uint64_t>(r->ret));
        return std::unexpected(std::int16_t{-1});
    }
    return GrantMap{static_cast<std::uint64_t>(r->ret), std::move(*m)};
}

XenResult<void> Client::gnttab_unmap(std::uint64_t handle) { return check(call(Op::gnttab_unmap, {handle, 0, 0, 0, 0, 0})); }

std::int16_t Client::grant_copy_to(std::uint16_t domid, std::uint32_t ref, std::uint16_t offset, void const* data,
                                   std::uint16_t len) {
    reset();
    if (len > 4096) return GNTST_bad_copy_arg;
    // The source is a page of our buffer: GNTTABOP_copy names dom0's frames that way.
    std::uint64_t page_off = 4096;
    std::memcpy(buf_.data() + page_off, data, len);
    used_ = page_off + 4096;
    gnttab_copy_t op{};
    op.source.u.gmfn = page_off >> 12;
    op.source.domid = DOMID_SELF;
    op.dest.u.ref = ref;
    op.dest.domid = domid;
    op.dest.offset = offset;
    op.len = len;
    op.flags = GNTCOPY_dest_gref;
    auto off = stage(op);
    auto n = hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_copy, off, 1);
    if (n < 0) return GNTST_general_error;
    fetch(off, &op, sizeof op);
    return op.status;
}

std::int16_t Client::grant_copy_from(std::uint16_t domid, std::span<std::uint32_t const> refs, std::uint16_t len,
                                     void* out) {
    reset();
    if (len > 4096 || refs.empty() || refs.size() > 512) return GNTST_bad_copy_arg;
    // Destinations are pages of our buffer, as in grant_copy_to; the ops follow them.
    std::uint64_t const first_page = 4096;
    used_ = first_page + refs.size() * 4096;
    std::vector<gnttab_copy_t> ops(refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) {
        auto& op = ops[i];
        op.source.u.ref = refs[i];
        op.source.domid = domid;
        op.dest.u.gmfn = (first_page >> 12) + i;
        op.dest.domid = DOMID_SELF;
        op.len = len;
        op.flags = GNTCOPY_source_gref;
    }
    auto off = stage(ops.data(), ops.size() * sizeof ops[0]);
    auto n = hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_copy, off, refs.size());
    if (n < 0) return GNTST_general_error;
    fetch(off, ops.data(), ops.size() * sizeof ops[0]);
    for (std::size_t i = 0; i < refs.size(); ++i) {
        if (ops[i].status != GNTST_okay) return ops[i].status;
        std::memcpy(static_cast<std::uint8_t*>(out) + i * 4096, buf_.data() + first_page + i * 4096, len);
    }
    return GNTST_okay;
}

std::int16_t Client::grant_copy_segments(std::uint16_t domid, std::span<GrantSegment const> segs, void* data,
                                         bool to_guest) {
    reset();
    if (segs.empty() || segs.size() > max_copy_segments) return GNTST_bad_copy_arg;
    for (auto const& s : segs)
        if (s.len == 0 || s.offset >= 4096 || s.len > 4096 - s.offset) return GNTST_bad_copy_arg;
    // Our side of each segment is a page of the shared buffer, as in grant_copy_to.
    std::uint64_t const first_page = 4096;
    used_ = first_page + segs.size() * 4096;
    std::vector<gnttab_copy_t> ops(segs.size());
    auto* bytes = static_cast<std::uint8_t*>(data);
    std::size_t pos = 0;
    for (std::size_t i = 0; i < segs.size(); ++i) {
        auto& op = ops[i];
        auto& ours = to_guest ? op.source : op.dest;
        auto& theirs = to_guest ? op.dest : op.source;
        ours.u.gmfn = (first_page >> 12) + i;
        ours.domid = DOMID_SELF;
        theirs.u.ref = segs[i].ref;
        theirs.domid = domid;
        theirs.offset = segs[i].offset;
        op.len = segs[i].len;
        op.flags = to_guest ? GNTCOPY_dest_gref : GNTCOPY_source_gref;
        if (to_guest) std::memcpy(buf_.data() + first_page + i * 4096, bytes + pos, segs[i].len);
        pos += segs[i].len;
    }
    auto off = stage(ops.data(), ops.size() * sizeof ops[0]);
    auto n = hypercall(__HYPERVISOR_grant_table_op, GNTTABOP_copy, off, segs.size());
    if (n < 0) return GNTST_general_error;
    fetch(off, ops.data(), ops.size() * sizeof ops[0]);
    for (auto const& op : ops)
        if (op.status != GNTST_okay) return op.status;
    if (!to_guest) {
        pos = 0;
        for (std::size_t i = 0; i < segs.size(); ++i) {
            std::memcpy(bytes + pos, buf_.data() + first_page + i * 4096, segs[i].len);
            pos += segs[i].len;
        }
    }
    return GNTST_okay;
}

std::int64_t Client::raw_struct_call(std::uint64_t nr, std::uint64_t cmd, void* arg, std::size_t len) {
    reset();
    auto off = stage(arg, len);
    auto n = hypercall(nr, cmd, off);
    fetch(off, arg, len);
    return n;
}

XenResult<std::string> Client::state_dir() {
    reset();
    auto off = stage(nullptr, 0);
    used_ = off + 4096;
    auto r = call(Op::host_info, {off, 4096, 0, 0, 0, 0});
    if (auto c = check(r); !c) return xen_fail(c.error());
    std::string s(static_cast<std::size_t>(r->ret), '\0');
    fetch(off, s.data(), s.size());
    return s;
}

} // namespace kxen::privcmd
