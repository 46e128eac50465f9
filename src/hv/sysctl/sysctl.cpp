// HYPERVISOR_sysctl (public/sysctl.h): host-wide queries. dom0 only.
#include <cstdint>
#include <unistd.h>
#include <algorithm>
#include <xen/sysctl.h>
#include "hv/domain/domain.hpp"
#include "hv/domctl/domain_info.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::hv {
namespace {

XenResult<void> physinfo(Caller& c, xen_sysctl& op) {
    auto& p = op.u.physinfo;
    p = {};
    unsigned n = c.hv.sched().nr_pcpus();
    p.threads_per_core = 1;
    p.cores_per_socket = n;
    p.nr_cpus = n;
    p.max_cpu_id = n - 1;
    p.nr_nodes = 1;
    p.max_node_id = 0;
    p.cpu_khz = static_cast<std::uint32_t>(c.hv.clock().tsc_khz());
    p.capabilities = XEN_SYSCTL_PHYSCAP_hvm | XEN_SYSCTL_PHYSCAP_hap;
    auto total = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES));
    auto avail = static_cast<std::uint64_t>(::sysconf(_SC_AVPHYS_PAGES));
    p.total_pages = total;
    p.free_pages = avail;
    p.max_mfn = c.hv.pool().size() >> 12;
    return {};
}

XenResult<void> getdomaininfolist(Caller& c, xen_sysctl& op) {
    auto& l = op.u.getdomaininfolist;
    std::uint32_t n = 0;
    auto base = handle_addr(l.buffer);
    if (l.first_domain == 0 && l.max_domains > 0) {
        if (!c.mem.copy_to(base, dom0_info(c.hv))) return xen_fail(XenErr::fault);
        ++n;
    }
    for (auto& d : c.hv.domains()) {
        if (d->id() < l.first_domain) continue;
        if (n >= l.max_domains) break;
        if (!c.mem.copy_to(base + n * sizeof(xen_domctl_getdomaininfo_t), domain_info(*d)))
            return xen_fail(XenErr::fault);
        ++n;
    }
    l.num_domains = n;
    return {};
}

XenResult<void> readconsole(Caller& c, xen_sysctl& op) {
    auto& r = op.u.readconsole;
    auto text = c.hv.console_read(r.clear);
    // incremental: continue from index; otherwise the whole ring, newest last.
    std::size_t from = r.incremental ? std::min<std::size_t>(r.index, text.size()) : 0;
    std::size_t n = std::min<std::size_t>(r.count, text.size() - from);
    if (n && !c.mem.write(handle_addr(r.buffer), text.data() + from, n)) return xen_fail(XenErr::fault);
    r.count = static_cast<std::uint32_t>(n);
    r.index = static_cast<std::uint32_t>(from + n);
    return {};
}

XenResult<void> sched_id(Caller&, xen_sysctl& op) {
    op.u.sched_id.sched_id = XEN_SCHEDULER_CREDIT;   // the closest Xen scheduler to round-robin
    return {};
}

} // namespace

long do_sysctl(Caller& c, Args const& a) {
    if (!c.privileged()) return xen_ret(XenErr::perm);
    auto op = c.mem.copy_from<xen_sysctl>(a[0]);
    if (!op) return xen_ret(XenErr::fault);
    if (op->interface_version != XEN_SYSCTL_INTERFACE_VERSION) return xen_ret(XenErr::acces);
    XenResult<void> r;
    switch (op->cmd) {
    case XEN_SYSCTL_physinfo: r = physinfo(c, *op); break;
    case XEN_SYSCTL_getdomaininfolist: r = getdomaininfolist(c, *op); break;
    case XEN_SYSCTL_readconsole: r = readconsole(c, *op); break;
    case XEN_SYSCTL_sched_id: r = sched_id(c, *op); break;
    default: note_unimplemented(__HYPERVISOR_sysctl, op->cmd); return xen_ret(XenErr::nosys);
    }
    if (!r) return xen_ret(r.error());
    return c.mem.copy_to(a[0], *op) ? 0 : xen_ret(XenErr::fault);
}

} // namespace kxen::hv
