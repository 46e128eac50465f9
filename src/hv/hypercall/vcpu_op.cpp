// HYPERVISOR_vcpu_op (public/vcpu.h): bring-up, runstate, vcpu_info placement, timers.
#include <cstdint>
#include <cstring>
#include <xen/vcpu.h>
#include <xen/hvm/hvm_vcpu.h>
#include "hv/compat/layout.h"
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"
#include "hv/sched/vcpu_timer.hpp"

namespace kxen::hv {
namespace {

long register_vcpu_info(Caller& c, Vcpu& v, std::uint64_t arg) {
    auto op = c.mem.copy_from<vcpu_register_vcpu_info_t>(arg);
    if (!op) return xen_ret(XenErr::fault);
    // public/vcpu.h: the area must not cross a page; it can be registered once.
    if (op->offset > 4096 - sizeof(vcpu_info)) return xen_ret(XenErr::inval);
    // kxend updates the area with atomic operations: a misaligned one would split them (and
    // is undefined in C++). No guest places it so; fuzz_hypercall found one that did.
    if (op->offset % alignof(vcpu_info) != 0) return xen_ret(XenErr::inval);
    if (v.info() && v.info() != (c.dom->shinfo() && v.id() < XEN_LEGACY_MAX_VCPUS
                                     ? &c.dom->shinfo()->vcpu_info[v.id()] : nullptr))
        return xen_ret(XenErr::inval);
    auto* p = c.dom->gpa_ptr((op->mfn << 12) + op->offset, sizeof(vcpu_info));
    if (!p) return xen_ret(XenErr::inval);
    // Xen copies the current contents of the shared_info slot into the new area.
    c.dom->hold_page(op->mfn);
    auto* area = reinterpret_cast<vcpu_info*>(p);
    if (auto* old = v.info()) std::memcpy(area, old, sizeof(vcpu_info));
    else std::memset(area, 0, sizeof(vcpu_info));
    area->evtchn_upcall_pending = 1;   // Xen marks events pending so none is lost in the move
    if (c.dom->shinfo_compat()) reinterpret_cast<compat_vcpu_info_head*>(p)->evtchn_pending_sel = ~compat_ulong{0};
    else area->evtchn_pending_sel = ~xen_ulong_t{0};
    v.set_info_area(area);
    c.dom->hv().clock().update(area->time);
    return 0;
}

long get_runstate(Caller& c, Vcpu& v, std::uint64_t arg) {
    vcpu_runstate_info r;
    {
        std::lock_guard g{v.runstate_mu};
        r = v.runstate;
    }
    return c.mem.copy_to(arg, r) ? 0 : xen_ret(XenErr::fault);
}

} // namespace

long do_vcpu_op(Caller& c, Args const& a) {
    if (!c.dom) return xen_ret(XenErr::inval);
    auto cmd = a[0];
    Vcpu* v = c.dom->vcpu(static_cast<std::uint32_t>(a[1]));
    if (a[1] >= c.dom->max_vcpus() || !v) return xen_ret(XenErr::noent);
    auto arg = a[2];
    switch (cmd) {
    case VCPUOP_initialise: {
        auto ctx = c.mem.copy_from<vcpu_hvm_context_t>(arg);
        if (!ctx) return xen_ret(XenErr::fault);
        if (v->up) return xen_ret(XenErr::exist);
        if (auto r = v->load_hvm_context(*ctx); !r) return xen_ret(r.error());
        v->up = false;   // VCPUOP_up starts it
        return 0;
    }
    case VCPUOP_up:
        v->up = true;
        c.dom->hv().sched().wake(*v);
        return 0;
    case VCPUOP_down:
        v->up = false;
        c.dom->hv().sched().kick(*v);
        return 0;
    case VCPUOP_is_up: return v->up ? 1 : 0;
    case VCPUOP_get_runstate_info: return get_runstate(c, *v, arg);
    case VCPUOP_register_vcpu_info: return register_vcpu_info(c, *v, arg);
    case VCPUOP_set_singleshot_timer: {
        if (v != c.vcpu) return xen_ret(XenErr::inval);   // only one's own timer, as Xen
        auto t = c.mem.copy_from<vcpu_set_singleshot_timer_t>(arg);
        if (!t) return xen_ret(XenErr::fault);
        if ((t->flags & VCPU_SSHOTTMR_future) && t->timeout_abs_ns < c.dom->hv().clock().system_time())
            return -62;   // -ETIME, which public/errno.h also calls XEN_ETIME
        set_singleshot_timer(*v, t->timeout_abs_ns);
        return 0;
    }
    case VCPUOP_stop_singleshot_timer:
        if (v != c.vcpu) return xen_ret(XenErr::inval);
        stop_singleshot_timer(*v);
        return 0;
    case VCPUOP_set_periodic_timer: {
        auto t = c.mem.copy_from<vcpu_set_periodic_timer_t>(arg);
        if (!t) return xen_ret(XenErr::fault);
        // Xen clamps tiny periods to 1 ms rather than let a guest storm the timer.
        if (t->period_ns < 1'000'000) t->period_ns = 1'000'000;
        set_periodic_timer(*v, t->period_ns);
        return 0;
    }
    case VCPUOP_stop_periodic_timer:
        stop_periodic_timer(*v);
        return 0;
    case VCPUOP_get_physid: return xen_ret(XenErr::inval);
    default: return xen_ret(XenErr::nosys);
    }
}

long do_set_timer_op(Caller& c, Args const& a) {
    if (!c.vcpu) return xen_ret(XenErr::inval);
    if (a[0] == 0) stop_singleshot_timer(*c.vcpu);
    else set_singleshot_timer(*c.vcpu, a[0]);
    return 0;
}

} // namespace kxen::hv
