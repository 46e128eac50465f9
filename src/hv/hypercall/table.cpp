#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <utility>
#include <xen/xen.h>
#include "common/log.hpp"
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::hv {

std::uint16_t Caller::id() const { return dom ? dom->id() : 0; }

namespace {
long do_multicall(Caller& c, Args const& a);

constexpr auto table = [] {
    std::array<Handler, 64> t{};
    t[__HYPERVISOR_set_timer_op] = do_set_timer_op;
    t[__HYPERVISOR_console_io] = do_console_io;
    t[__HYPERVISOR_xen_version] = do_xen_version;
    t[__HYPERVISOR_memory_op] = do_memory_op;
    t[__HYPERVISOR_vcpu_op] = do_vcpu_op;
    t[__HYPERVISOR_sched_op] = do_sched_op;
    t[__HYPERVISOR_event_channel_op] = do_event_channel_op;
    t[__HYPERVISOR_hvm_op] = do_hvm_op;
    t[__HYPERVISOR_grant_table_op] = do_grant_table_op;
    t[__HYPERVISOR_sysctl] = do_sysctl;
    t[__HYPERVISOR_domctl] = do_domctl;
    t[__HYPERVISOR_multicall] = do_multicall;
    return t;
}();

// A batch of hypercalls, each result written back into its entry. A multicall inside a
// multicall is refused, as Xen does.
long do_multicall(Caller& c, Args const& a) {
    for (std::uint64_t i = 0; i < a[1]; ++i) {
        auto at = a[0] + i * sizeof(multicall_entry_t);
        auto e = c.mem.copy_from<multicall_entry_t>(at);
        if (!e) return xen_ret(XenErr::fault);
        long r = e->op == __HYPERVISOR_multicall
                     ? xen_ret(XenErr::inval)
                     : hypercall(c, e->op, {e->args[0], e->args[1], e->args[2], e->args[3], e->args[4]});
        e->result = static_cast<xen_ulong_t>(r);
        if (!c.mem.write(at + offsetof(multicall_entry_t, result), &e->result, sizeof e->result))
            return xen_ret(XenErr::fault);
    }
    return 0;
}
} // namespace

long hypercall(Caller& c, std::uint64_t nr, Args const& a) {
    if (nr >= table.size() || !table[nr]) {
        note_unimplemented(nr, 0);
        return xen_ret(XenErr::nosys);
    }
    long r = table[nr](c, a);
    // domctl and sysctl name their sub-op inside the structure and say it themselves.
    if (r == -ENOSYS && nr != __HYPERVISOR_domctl && nr != __HYPERVISOR_sysctl) note_unimplemented(nr, a[0]);
    return r;
}

void note_unimplemented(std::uint64_t nr, std::uint64_t sub) {
    static std::mutex mu;
    static std::set<std::pair<std::uint64_t, std::uint64_t>> seen;
    std::lock_guard g{mu};
    // Bounded: a guest trying every sub-op must not grow kxend without end.
    if (seen.size() >= 4096 || !seen.emplace(nr, sub).second) return;
    log::warn("unimplemented: hypercall {} sub-op {} (answered ENOSYS)", nr, sub);
}

XenResult<std::shared_ptr<Domain>> target_domain(Caller& c, std::uint64_t domid) {
    domid &= 0xffff;   // domid_t is 16 bits in every structure that carries one
    if (domid == DOMID_SELF) {
        if (!c.dom) return xen_fail(XenErr::srch);
        return c.dom->shared_from_this();
    }
    if (c.dom && domid == c.dom->id()) return c.dom->shared_from_this();
    if (!c.privileged()) return xen_fail(XenErr::perm);
    auto d = c.hv.lookup(static_cast<DomId>(domid));
    if (!d) return xen_fail(XenErr::srch);
    return d;
}

bool write_hypercall_page(Domain& d, std::uint64_t gpa) {
    auto* page = d.gpa_ptr(gpa & ~0xfffull, 4096);
    if (!page) return false;
    auto* p = reinterpret_cast<std::uint8_t*>(page);
    // Each 32-byte stub: mov $nr,%eax; out %al,$port; ret. kxend reads the number from RAX
    // (the port only says "hypercall"); never vmcall, which hangs the vCPU on these hosts.
    for (unsigned nr = 0; nr < 128; ++nr) {
        auto* s = p + nr * 32;
        s[0] = 0xb8;
        s[1] = static_cast<std::uint8_t>(nr);
        s[2] = s[3] = s[4] = 0;
        s[5] = 0xe6;
        s[6] = static_cast<std::uint8_t>(hypercall_port);
        s[7] = 0xc3;
        for (unsigned i = 8; i < 32; ++i) s[i] = 0xcc;   // int3 padding
    }
    d.mark_dirty(gpa & ~0xfffull, 4096);
    return true;
}

} // namespace kxen::hv
