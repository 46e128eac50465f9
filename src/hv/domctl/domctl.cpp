// HYPERVISOR_domctl (public/domctl.h): what the toolstack does to a domain. dom0 only.
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <xen/domctl.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/hvm/save.h>
#include "common/log.hpp"
#include "hv/domain/domain.hpp"
#include "hv/domctl/cpu_policy.hpp"
#include "hv/domctl/domain_info.hpp"
#include "hv/domctl/hvm_context.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"
#include "hv/vcpu/cpuid.hpp"
#include "hv/sysctl/cpumap.hpp"

namespace kxen::hv {
namespace {

XenResult<void> createdomain(Caller& c, xen_domctl& op) {
    auto const& cd = op.u.createdomain;
    // As Xen: an id that is no guest's (0, DOMID_INVALID, libxl's "let Xen choose") picks one.
    auto want = op.domain < DOMID_FIRST_RESERVED ? op.domain : 0;
    auto d = c.hv.create_domain(static_cast<DomId>(want), cd.handle, cd.flags, cd.max_vcpus);
    if (!d) return xen_fail(d.error());
    op.domain = (*d)->id();
    return {};
}

XenResult<void> getdomaininfo(Caller& c, xen_domctl& op) {
    // As Xen: the first domain whose id is >= the one asked for.
    if (op.domain == 0) {
        op.u.getdomaininfo = dom0_info(c.hv);
        return {};
    }
    for (auto& d : c.hv.domains()) {
        if (d->id() < op.domain) continue;
        op.u.getdomaininfo = domain_info(*d);
        op.domain = d->id();
        return {};
    }
    return xen_fail(XenErr::srch);
}

// kxen carries a PVH vCPU's start state as Xen's vcpu_hvm_context_t (the VCPUOP_initialise
// format for HVM guests); see DESIGN-NOTES.md.
XenResult<void> setvcpucontext(Caller& c, Domain& d, xen_domctl& op) {
    auto& vc = op.u.vcpucontext;
    Vcpu* v = d.vcpu(vc.vcpu);
    if (!v) return xen_fail(XenErr::inval);
    if (!d.paused()) return xen_fail(XenErr::busy);
    auto ctx = c.mem.copy_from<vcpu_hvm_context_t>(handle_addr(vc.ctxt));
    if (!ctx) return xen_fail(XenErr::fault);
    return v->load_hvm_context(*ctx);
}

XenResult<void> getvcpucontext(Caller& c, Domain& d, xen_domctl& op) {
    auto& vc = op.u.vcpucontext;
    Vcpu* v = d.vcpu(vc.vcpu);
    if (!v) return xen_fail(XenErr::inval);
    // As Xen's vcpu_pause around the read: a running domain is stopped for it (xl dump-core
    // reads a live domain's vCPUs), and runs on after.
    bool const stop = !d.is_shutdown();
    if (stop) {
        d.pause();
        if (!d.wait_stopped()) {
            d.unpause();
            return xen_fail(XenErr::busy);
        }
    }
    struct Resume {
        Domain& d;
        bool on;
        ~Resume() { if (on) d.unpause(); }
    } resume{d, stop};
    auto sregs = v->cpu().get_sregs();
    if (!sregs) return xen_fail(XenErr::io);
    auto const& r = v->cpu().regs();
    vcpu_guest_context_t g{};
    auto& u = g.user_regs;
    u.rax = r.rax; u.rbx = r.rbx; u.rcx = r.rcx; u.rdx = r.rdx;
    u.rsi = r.rsi; u.rdi = r.rdi; u.rbp = r.rbp; u.rsp = r.rsp;
    u.r8 = r.r8; u.r9 = r.r9; u.r10 = r.r10; u.r11 = r.r11;
    u.r12 = r.r12; u.r13 = r.r13; u.r14 = r.r14; u.r15 = r.r15;
    u.rip = r.rip; u.rflags = r.rflags;
    u.cs = sregs->cs.selector; u.ss = sregs->ss.selector;
    u.ds = sregs->ds.selector; u.es = sregs->es.selector;
    u.fs = sregs->fs.selector; u.gs = sregs->gs.selector;
    g.ctrlreg[0] = sregs->cr0; g.ctrlreg[2] = sregs->cr2;
    g.ctrlreg[3] = sregs->cr3; g.ctrlreg[4] = sregs->cr4;
    g.fs_base = sregs->fs.base; g.gs_base_kernel = sregs->gs.base;
    g.flags = VGCF_online * v->up.load();
    return c.mem.copy_to(handle_addr(vc.ctxt), g) ? XenResult<void>{} : xen_fail(XenErr::fault);
}

XenResult<void> getvcpuinfo(Domain& d, xen_domctl& op) {
    auto& vi = op.u.getvcpuinfo;
    Vcpu* v = d.vcpu(vi.vcpu);
    if (!v) return xen_fail(XenErr::inval);
    std::lock_guard g{v->runstate_mu};
    vi.online = v->up;
    vi.blocked = v->blocked;
    vi.running = v->running;
    vi.cpu_time = v->cpu_time_ns;
    vi.cpu = v->worker;
    return {};
}

// Log-dirty for migration (Xen's paging_domctl, log-dirty part). There are no shadow page
// tables here: ENABLE without LOG_DIRTY and the allocation calls succeed and do nothing.
XenResult<void> shadow_op(Caller& c, Domain& d, xen_domctl& op) {
    auto& so = op.u.shadow_op;
    auto& p2m = d.p2m();
    switch (so.op) {
    case XEN_DOMCTL_SHADOW_OP_OFF: p2m.log_dirty_disable(); return {};
    case XEN_DOMCTL_SHADOW_OP_ENABLE_TEST: return {};
    case XEN_DOMCTL_SHADOW_OP_ENABLE:
        if (so.mode & ~static_cast<std::uint32_t>(XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY | XEN_DOMCTL_SHADOW_ENABLE_REFCOUNT |
                                                  XEN_DOMCTL_SHADOW_ENABLE_TRANSLATE | XEN_DOMCTL_SHADOW_ENABLE_EXTERNAL))
            return xen_fail(XenErr::inval);
        if (!(so.mode & XEN_DOMCTL_SHADOW_ENABLE_LOG_DIRTY)) return {};
        [[fallthrough]];
    case XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY:
        if (auto r = p2m.log_dirty_enable(); !r) return xen_fail(r.error().err == EBUSY ? XenErr::busy : XenErr::nomem);
        return {};
    case XEN_DOMCTL_SHADOW_OP_CLEAN:
    case XEN_DOMCTL_SHADOW_OP_PEEK: {
        if (!p2m.log_dirty()) return xen_fail(XenErr::inval);
        // As Xen, the bitmap covers at most the guest's physmap.
        std::uint64_t const pages = std::min<std::uint64_t>(so.pages, p2m.max_gfn());
        std::vector<std::uint64_t> bits((pages + 63) / 64);
        auto n = p2m.log_dirty_read(bits, so.op == XEN_DOMCTL_SHADOW_OP_CLEAN);
        if (!n) return xen_fail(XenErr::io);
        // Bits past `pages` in the last word belong to the caller's buffer only up to `pages`.
        if (pages % 64) bits.back() &= (1ull << (pages % 64)) - 1;
        if (pages && !c.mem.write(handle_addr(so.dirty_bitmap), bits.data(), (pages + 7) / 8))
            return xen_fail(XenErr::fault);
        so.pages = pages;
        so.stats.fault_count = 0;
        so.stats.dirty_count = static_cast<std::uint32_t>(std::min<std::uint64_t>(*n, UINT32_MAX));
        return {};
    }
    case XEN_DOMCTL_SHADOW_OP_GET_ALLOCATION: so.mb = 0; return {};
    case XEN_DOMCTL_SHADOW_OP_SET_ALLOCATION: return {};
    default: return xen_fail(XenErr::inval);
    }
}

// The type of each frame, as the save code asks before it copies a batch: for kxen's guests a
// frame is RAM (NOTAB) or absent (XTAB); there are no PV page tables.
XenResult<void> getpageframeinfo3(Caller& c, Domain& d, xen_domctl& op) {
    auto& pf = op.u.getpageframeinfo3;
    if (pf.num > 1024) return xen_fail(XenErr::e2big);   // libxc's batch; keeps the copy small
    std::vector<xen_pfn_t> pfns(pf.num);
    auto addr = handle_addr(pf.array);
    if (!c.mem.read(addr, pfns.data(), pfns.size() * sizeof(xen_pfn_t))) return xen_fail(XenErr::fault);
    // Each entry comes back as the type alone, as Xen writes it (libxc's save compares the
    // whole word with the XEN_DOMCTL_PFINFO_* values).
    for (auto& p : pfns) p = d.p2m().mfn(Gfn{p}) ? XEN_DOMCTL_PFINFO_NOTAB : XEN_DOMCTL_PFINFO_XTAB;
    if (!c.mem.write(addr, pfns.data(), pfns.size() * sizeof(xen_pfn_t))) return xen_fail(XenErr::fault);
    return {};
}

XenResult<void> gethvmcontext(Caller& c, Domain& d, xen_domctl& op) {
    auto& hc = op.u.hvmcontext;
    auto blob = save_hvm_context(d);
    if (!blob) return xen_fail(blob.error());
    auto const size = static_cast<std::uint32_t>(blob->size());
    if (handle_addr(hc.buffer) == 0) {   // as Xen: a null buffer asks for the size
        hc.size = size;
        return {};
    }
    if (hc.size < size) return xen_fail(XenErr::nospc);
    if (!c.mem.write(handle_addr(hc.buffer), blob->data(), size)) return xen_fail(XenErr::fault);
    hc.size = size;
    return {};
}

XenResult<void> sethvmcontext(Caller& c, Domain& d, xen_domctl& op) {
    auto& hc = op.u.hvmcontext;
    if (hc.size == 0 || hc.size > (1u << 20)) return xen_fail(XenErr::inval);
    std::vector<std::uint8_t> blob(hc.size);
    if (!c.mem.read(handle_addr(hc.buffer), blob.data(), blob.size())) return xen_fail(XenErr::fault);
    return load_hvm_context(d, blob);
}

// Every vCPU may run on every pCPU: kxend's scheduler has no affinity. The map is what
// XEN_DOMCTL_getvcpuaffinity reports, hard and soft alike.
XenResult<void> getvcpuaffinity(Caller& c, std::uint32_t nr_vcpus, xen_domctl& op) {
    auto& va = op.u.vcpuaffinity;
    if (va.vcpu >= nr_vcpus) return xen_fail(XenErr::inval);
    unsigned pcpus = c.hv.sched().nr_pcpus();
    if ((va.flags & XEN_VCPUAFFINITY_HARD) && !write_all_cpus(c.mem, va.cpumap_hard, pcpus)) return xen_fail(XenErr::fault);
    if ((va.flags & XEN_VCPUAFFINITY_SOFT) && !write_all_cpus(c.mem, va.cpumap_soft, pcpus)) return xen_fail(XenErr::fault);
    return {};
}

// dom0 is the host (dom0_info): one vCPU per pCPU, each on its own pCPU.
XenResult<void> dom0_domctl(Caller& c, xen_domctl& op) {
    unsigned pcpus = c.hv.sched().nr_pcpus();
    switch (op.cmd) {
    case XEN_DOMCTL_getvcpuinfo: {
        auto& vi = op.u.getvcpuinfo;
        if (vi.vcpu >= pcpus) return xen_fail(XenErr::inval);
        vi.online = 1;
        vi.running = 1;
        vi.blocked = 0;
        vi.cpu_time = 0;
        vi.cpu = vi.vcpu;
        return {};
    }
    case XEN_DOMCTL_getvcpuaffinity: return getvcpuaffinity(c, pcpus, op);
    default: return xen_fail(XenErr::perm);   // the host is not a domain kxend can change
    }
}

XenResult<void> dispatch(Caller& c, xen_domctl& op) {
    if (op.cmd == XEN_DOMCTL_createdomain) return createdomain(c, op);
    if (op.cmd == XEN_DOMCTL_getdomaininfo) return getdomaininfo(c, op);
    if (op.domain == 0) return dom0_domctl(c, op);
    auto d = c.hv.lookup(op.domain);
    if (!d) return xen_fail(XenErr::srch);
    switch (op.cmd) {
    case XEN_DOMCTL_destroydomain: return c.hv.destroy_domain(op.domain);
    case XEN_DOMCTL_pausedomain:
        // As Xen's domain_pause: when it returns, no vCPU of the domain runs.
        d->pause();
        return d->wait_stopped() ? XenResult<void>{} : xen_fail(XenErr::busy);
    case XEN_DOMCTL_unpausedomain:
        if (!d->paused()) return xen_fail(XenErr::inval);
        d->unpause();
        return {};
    case XEN_DOMCTL_max_mem: {
        auto kb = op.u.max_mem.max_memkb;
        if (kb > (c.hv.pool().size() >> 10)) return xen_fail(XenErr::inval);
        d->max_pages = kb >> 2;
        return {};
    }
    case XEN_DOMCTL_max_vcpus:
        // Fixed at createdomain since Xen 4.13; accept the call when it agrees.
        return op.u.max_vcpus.max == d->max_vcpus() ? XenResult<void>{} : xen_fail(XenErr::inval);
    case XEN_DOMCTL_setvcpucontext: return setvcpucontext(c, *d, op);
    case XEN_DOMCTL_getvcpucontext: return getvcpucontext(c, *d, op);
    case XEN_DOMCTL_getvcpuinfo: return getvcpuinfo(*d, op);
    case XEN_DOMCTL_getvcpuaffinity: return getvcpuaffinity(c, d->max_vcpus(), op);
    // Affinities are accepted and not kept: every vCPU may run on every pCPU, which the maps
    // written back (the effective affinity, as Xen reports) say.
    case XEN_DOMCTL_setvcpuaffinity: return getvcpuaffinity(c, d->max_vcpus(), op);
    case XEN_DOMCTL_setnodeaffinity: return {};
    case XEN_DOMCTL_scheduler_op: {
        auto& so = op.u.scheduler_op;
        if (so.sched_id != XEN_SCHEDULER_CREDIT) return xen_fail(XenErr::inval);   // the host's scheduler
        if (so.cmd == XEN_DOMCTL_SCHEDOP_getinfo) {
            so.u.credit.weight = d->sched_weight;
            so.u.credit.cap = d->sched_cap;
            return {};
        }
        if (so.cmd != XEN_DOMCTL_SCHEDOP_putinfo) return xen_fail(XenErr::inval);
        // As Xen's credit scheduler: weight 1..65535 (0 keeps it), cap a percentage of CPUs.
        if (so.u.credit.weight) d->sched_weight = so.u.credit.weight;
        if (so.u.credit.cap > 100 * d->max_vcpus()) return xen_fail(XenErr::inval);
        d->sched_cap = so.u.credit.cap;
        return {};
    }
    case XEN_DOMCTL_get_cpu_policy: {
        auto& p = op.u.cpu_policy;
        auto leaves = d->cpu_policy.empty() ? policy_leaves(guest_cpuid(c.hv.accel().supported_cpuid(), 0)) : d->cpu_policy;
        if (auto r = copy_policy_out(c.mem, leaves, handle_addr(p.leaves), p.nr_leaves); !r) return r;
        p.nr_msrs = handle_addr(p.msrs) ? 0 : max_policy_msrs;
        return {};
    }
    case XEN_DOMCTL_set_cpu_policy: {
        auto& p = op.u.cpu_policy;
        p.err_leaf = p.err_subleaf = p.err_msr = ~0u;
        if (p.nr_leaves > max_policy_leaves) return xen_fail(XenErr::e2big);
        std::vector<xen_cpuid_leaf_t> leaves(p.nr_leaves);
        for (std::uint32_t i = 0; i < p.nr_leaves; ++i) {
            auto l = c.mem.copy_from<xen_cpuid_leaf_t>(handle_addr(p.leaves) + i * sizeof(xen_cpuid_leaf_t));
            if (!l) return xen_fail(XenErr::fault);
            leaves[i] = *l;
        }
        // MSRs: kxend describes none, so a policy may name none it would change.
        for (std::uint32_t i = 0; i < p.nr_msrs; ++i) {
            auto m = c.mem.copy_from<xen_msr_entry_t>(handle_addr(p.msrs) + i * sizeof(xen_msr_entry_t));
            if (!m) return xen_fail(XenErr::fault);
            if (m->val != 0) {
                log::warn("d{}: CPUID policy refused: MSR {:#x} = {:#x} (kxend describes no MSRs)", d->id(), m->idx, m->val);
                p.err_msr = m->idx;
                return xen_fail(XenErr::inval);
            }
        }
        return set_cpu_policy(*d, leaves, p.err_leaf, p.err_subleaf);
    }
    // Xen's pool for shadow/HAP page tables: KVM or the software vCPU keep their own.
    case XEN_DOMCTL_set_paging_mempool_size: return {};
    case XEN_DOMCTL_get_paging_mempool_size: op.u.paging_mempool.size = 0; return {};
    // The guest's TSC is the host's (DESIGN-NOTES): Xen's default and never_emulate modes.
    case XEN_DOMCTL_settscinfo:
        if (op.u.tsc_info.tsc_mode != 0 && op.u.tsc_info.tsc_mode != 2) return xen_fail(XenErr::opnotsupp);
        return {};
    case XEN_DOMCTL_gettscinfo:
        op.u.tsc_info = {};
        op.u.tsc_info.gtsc_khz = static_cast<std::uint32_t>(c.hv.clock().tsc_khz());
        op.u.tsc_info.elapsed_nsec = c.hv.clock().system_time();
        return {};
    case XEN_DOMCTL_setdomainhandle:
        std::memcpy(d->handle, op.u.setdomainhandle.handle, sizeof d->handle);
        return {};
    case XEN_DOMCTL_settimeoffset: return {};
    case XEN_DOMCTL_shadow_op: return shadow_op(c, *d, op);
    case XEN_DOMCTL_gethvmcontext: return gethvmcontext(c, *d, op);
    case XEN_DOMCTL_gethvmcontext_partial: {
        // One record; only MTRRs (hvm_context.hpp) are offered alone.
        auto& p = op.u.hvmcontext_partial;
        if (p.instance >= d->max_vcpus()) return xen_fail(XenErr::noent);
        if (p.type != HVM_SAVE_CODE(MTRR)) return xen_fail(XenErr::noent);
        auto m = default_mtrr();
        if (p.bufsz < sizeof m) return xen_fail(XenErr::nospc);
        return c.mem.copy_to(handle_addr(p.buffer), m) ? XenResult<void>{} : xen_fail(XenErr::fault);
    }
    case XEN_DOMCTL_getpageframeinfo3: return getpageframeinfo3(c, *d, op);
    case XEN_DOMCTL_sethvmcontext: return sethvmcontext(c, *d, op);
    case XEN_DOMCTL_resumedomain: return d->resume();
    default: return xen_fail(XenErr::nosys);
    }
}

} // namespace

long do_domctl(Caller& c, Args const& a) {
    if (!c.privileged()) return xen_ret(XenErr::perm);
    auto op = c.mem.copy_from<xen_domctl>(a[0]);
    if (!op) return xen_ret(XenErr::fault);
    if (op->interface_version != XEN_DOMCTL_INTERFACE_VERSION) return xen_ret(XenErr::acces);
    auto r = dispatch(c, *op);
    if (!r && r.error() == XenErr::nosys) note_unimplemented(__HYPERVISOR_domctl, op->cmd);
    // As Xen: a refused policy says which leaf or MSR it objects to.
    if (!r && op->cmd == XEN_DOMCTL_set_cpu_policy) (void)c.mem.copy_to(a[0], *op);
    if (!r) return xen_ret(r.error());
    return c.mem.copy_to(a[0], *op) ? 0 : xen_ret(XenErr::fault);
}

} // namespace kxen::hv
