// HYPERVISOR_sysctl (public/sysctl.h): host-wide queries. dom0 only.
#include <cstdint>
#include <unistd.h>
#include <algorithm>
#include <xen/sysctl.h>
#include "hv/domain/domain.hpp"
#include "hv/domctl/domain_info.hpp"
#include "hv/hv.hpp"
#include "hv/domctl/cpu_policy.hpp"
#include "hv/hypercall/hypercall.hpp"
#include "hv/vcpu/cpuid.hpp"
#include "hv/sysctl/cpumap.hpp"

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

// One NUMA node with all the host's memory: what physinfo says (nr_nodes 1).
XenResult<void> numainfo(Caller& c, xen_sysctl& op) {
    auto& n = op.u.numainfo;
    bool query = handle_addr(n.meminfo) == 0 && handle_addr(n.distance) == 0;
    if (!query && n.num_nodes >= 1) {
        auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
        xen_sysctl_meminfo_t m{static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * page,
                               static_cast<std::uint64_t>(::sysconf(_SC_AVPHYS_PAGES)) * page};
        std::uint32_t local = 10;   // ACPI SLIT's distance of a node to itself
        if (handle_addr(n.meminfo) && !c.mem.copy_to(handle_addr(n.meminfo), m)) return xen_fail(XenErr::fault);
        if (handle_addr(n.distance) && !c.mem.copy_to(handle_addr(n.distance), local)) return xen_fail(XenErr::fault);
    }
    n.num_nodes = 1;
    return {};
}

// Each pCPU a core of socket 0, node 0 (physinfo: one socket, threads_per_core 1).
XenResult<void> cputopoinfo(Caller& c, xen_sysctl& op) {
    auto& t = op.u.cputopoinfo;
    unsigned pcpus = c.hv.sched().nr_pcpus();
    if (handle_addr(t.cputopo))
        for (unsigned i = 0; i < pcpus && i < t.num_cpus; ++i) {
            xen_sysctl_cputopo_t e{i, 0, 0};
            if (!c.mem.copy_to(handle_addr(t.cputopo) + i * sizeof e, e)) return xen_fail(XenErr::fault);
        }
    t.num_cpus = pcpus;
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

// One cpupool, 0, with every pCPU and every domain in it (libxl asks before it creates one).
XenResult<void> cpupool_op(Caller& c, xen_sysctl& op) {
    auto& p = op.u.cpupool_op;
    unsigned pcpus = c.hv.sched().nr_pcpus();
    switch (p.op) {
    case XEN_SYSCTL_CPUPOOL_OP_INFO:
        // As Xen: the first pool whose id is >= the one asked for.
        if (p.cpupool_id > 0) return xen_fail(XenErr::noent);
        p.cpupool_id = 0;
        p.sched_id = XEN_SCHEDULER_CREDIT;
        p.n_dom = static_cast<std::uint32_t>(c.hv.domains().size() + 1);   // dom0 too
        return write_all_cpus(c.mem, p.cpumap, pcpus) ? XenResult<void>{} : xen_fail(XenErr::fault);
    case XEN_SYSCTL_CPUPOOL_OP_FREEINFO:   // every pCPU is in pool 0
        return write_all_cpus(c.mem, p.cpumap, 0) ? XenResult<void>{} : xen_fail(XenErr::fault);
    case XEN_SYSCTL_CPUPOOL_OP_MOVEDOMAIN:
        return p.cpupool_id == 0 ? XenResult<void>{} : xen_fail(XenErr::noent);
    default:
        note_unimplemented(__HYPERVISOR_sysctl, (std::uint64_t{XEN_SYSCTL_cpupool_op} << 32) | p.op);
        return xen_fail(XenErr::opnotsupp);
    }
}

// Every x86 HVM policy is the table kxend gives guests (no PV guests here). No MSRs are
// described: the guest's MSRs are what the accelerator has.
XenResult<void> get_cpu_policy(Caller& c, xen_sysctl& op) {
    auto& p = op.u.cpu_policy;
    if (p.index > XEN_SYSCTL_cpu_policy_hvm_default) return xen_fail(XenErr::inval);
    if (p.index == XEN_SYSCTL_cpu_policy_pv_max || p.index == XEN_SYSCTL_cpu_policy_pv_default)
        return xen_fail(XenErr::opnotsupp);
    auto leaves = policy_leaves(guest_cpuid(c.hv.accel().supported_cpuid(), 0));
    if (auto r = copy_policy_out(c.mem, leaves, handle_addr(p.leaves), p.nr_leaves); !r) return r;
    p.nr_msrs = handle_addr(p.msrs) ? 0 : max_policy_msrs;
    return {};
}

XenResult<void> get_cpu_featureset(Caller& c, xen_sysctl& op) {
    auto& f = op.u.cpu_featureset;
    if (f.index > XEN_SYSCTL_cpu_featureset_hvm_max) return xen_fail(XenErr::inval);
    auto words = featureset(guest_cpuid(c.hv.accel().supported_cpuid(), 0));
    if (handle_addr(f.features) == 0) {
        f.nr_features = static_cast<std::uint32_t>(words.size());
        return {};
    }
    auto n = std::min<std::size_t>(f.nr_features, words.size());
    if (n && !c.mem.write(handle_addr(f.features), words.data(), n * sizeof words[0])) return xen_fail(XenErr::fault);
    f.nr_features = static_cast<std::uint32_t>(n);
    return {};
}

// The credit scheduler's pool-wide parameters, as far as kxend's scheduler has them: the time
// slice is real; there is no rate limit (Xen's 0: off) and no cache-hot migration delay.
XenResult<void> scheduler_op(Caller& c, xen_sysctl& op) {
    auto& so = op.u.scheduler_op;
    if (so.cpupool_id != 0) return xen_fail(XenErr::srch);   // the one pool
    if (so.sched_id != XEN_SCHEDULER_CREDIT) return xen_fail(XenErr::inval);
    auto& p = so.u.sched_credit;
    auto& sched = c.hv.sched();
    switch (so.cmd) {
    case XEN_SYSCTL_SCHEDOP_putinfo:
        if (p.tslice_ms < XEN_SYSCTL_CSCHED_TSLICE_MIN || p.tslice_ms > XEN_SYSCTL_CSCHED_TSLICE_MAX)
            return xen_fail(XenErr::inval);
        if (p.ratelimit_us != 0 || p.vcpu_migr_delay_us != 0) return xen_fail(XenErr::inval);
        sched.set_slice_ns(std::uint64_t{p.tslice_ms} * 1'000'000);
        return {};
    case XEN_SYSCTL_SCHEDOP_getinfo:
        p.tslice_ms = static_cast<std::uint32_t>(sched.slice_ns() / 1'000'000);
        p.ratelimit_us = 0;
        p.vcpu_migr_delay_us = 0;
        return {};
    default: return xen_fail(XenErr::inval);
    }
}

// Which NUMA node each PCI device is on. kxend is given no PCI device (dom0 is the host, which
// reports none to it), so each is one "not known to the hypervisor", as Xen answers for a
// device dom0 never added. Xen's own batches are of 64 before it may preempt.
XenResult<void> pcitopoinfo(Caller& c, xen_sysctl& op) {
    auto& t = op.u.pcitopoinfo;
    if (handle_addr(t.devs) == 0 || handle_addr(t.nodes) == 0) return xen_fail(XenErr::inval);
    std::uint32_t i = 0;
    for (; i < t.num_devs && i < 4096; ++i) {
        if (!c.mem.copy_from<physdev_pci_device_t>(handle_addr(t.devs) + i * sizeof(physdev_pci_device_t)))
            return xen_fail(XenErr::fault);
        std::uint32_t const node = XEN_INVALID_DEV;
        if (!c.mem.copy_to(handle_addr(t.nodes) + i * sizeof node, node)) return xen_fail(XenErr::fault);
    }
    t.num_devs = i;
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
    case XEN_SYSCTL_cpupool_op: r = cpupool_op(c, *op); break;
    case XEN_SYSCTL_numainfo: r = numainfo(c, *op); break;
    case XEN_SYSCTL_get_cpu_policy: r = get_cpu_policy(c, *op); break;
    case XEN_SYSCTL_get_cpu_featureset: r = get_cpu_featureset(c, *op); break;
    case XEN_SYSCTL_cputopoinfo: r = cputopoinfo(c, *op); break;
    case XEN_SYSCTL_scheduler_op: r = scheduler_op(c, *op); break;
    case XEN_SYSCTL_pcitopoinfo: r = pcitopoinfo(c, *op); break;
    default: note_unimplemented(__HYPERVISOR_sysctl, op->cmd); return xen_ret(XenErr::nosys);
    }
    if (!r) return xen_ret(r.error());
    return c.mem.copy_to(a[0], *op) ? 0 : xen_ret(XenErr::fault);
}

} // namespace kxen::hv
