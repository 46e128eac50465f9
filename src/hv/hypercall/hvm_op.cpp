// HYPERVISOR_hvm_op (public/hvm/hvm_op.h): params and the per-vCPU upcall vector.
#include <cstdint>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/op_call.hpp"
#include "hv/sched/vcpu_timer.hpp"

namespace kxen::hv {
namespace {

// Which params a guest may write for itself, and read (Xen's hvm_allow_{set,get}_param).
bool guest_may_set(unsigned i) {
    switch (i) {
    case HVM_PARAM_CALLBACK_IRQ:
    case HVM_PARAM_TIMER_MODE:
    case HVM_PARAM_STORE_EVTCHN:
    case HVM_PARAM_CONSOLE_EVTCHN:
        return true;
    default: return false;
    }
}

bool guest_may_get(unsigned i) {
    switch (i) {
    case HVM_PARAM_CALLBACK_IRQ:
    case HVM_PARAM_STORE_PFN:
    case HVM_PARAM_STORE_EVTCHN:
    case HVM_PARAM_CONSOLE_PFN:
    case HVM_PARAM_CONSOLE_EVTCHN:
    case HVM_PARAM_TIMER_MODE:
    case HVM_PARAM_NR_IOREQ_SERVER_PAGES:
        return true;
    default: return false;
    }
}

XenResult<void> set_param(Caller& c, xen_hvm_param_t& op) {
    auto d = target_domain(c, op.domid);
    if (!d) return xen_fail(d.error());
    if (op.index >= HVM_NR_PARAMS) return xen_fail(XenErr::inval);
    if (!c.privileged() && !guest_may_set(op.index)) return xen_fail(XenErr::perm);
    if (op.index == HVM_PARAM_CALLBACK_IRQ) {
        auto type = op.value >> 56;
        // Only the vector type makes sense without emulated PCI/ISA interrupt lines.
        if (op.value != 0 && type != HVM_PARAM_CALLBACK_TYPE_VECTOR) return xen_fail(XenErr::inval);
        if (type == HVM_PARAM_CALLBACK_TYPE_VECTOR && (op.value & 0xff) < 0x10) return xen_fail(XenErr::inval);
    }
    (*d)->set_param(op.index, op.value);
    // Xen's hvm_latch_shinfo_size: one of a PV driver's first calls, made in the mode it runs in.
    if (op.index == HVM_PARAM_CALLBACK_IRQ && c.dom == d->get()) c.dom->set_shinfo_compat(c.compat);
    if (op.index == HVM_PARAM_CALLBACK_IRQ)
        for (std::uint32_t i = 0; i < (*d)->max_vcpus(); ++i) c.hv.sched().kick(*(*d)->vcpu(i));
    return {};
}

XenResult<void> get_param(Caller& c, xen_hvm_param_t& op) {
    auto d = target_domain(c, op.domid);
    if (!d) return xen_fail(d.error());
    if (op.index >= HVM_NR_PARAMS) return xen_fail(XenErr::inval);
    if (!c.privileged() && !guest_may_get(op.index)) return xen_fail(XenErr::perm);
    op.value = (*d)->param(op.index);
    return {};
}

XenResult<void> set_upcall_vector(Caller& c, xen_hvm_evtchn_upcall_vector_t& op) {
    if (!c.dom) return xen_fail(XenErr::inval);
    if (op.vector < 0x10) return xen_fail(XenErr::inval);
    Vcpu* v = c.dom->vcpu(op.vcpu);
    if (!v) return xen_fail(XenErr::noent);
    v->upcall_vector = op.vector;
    return {};
}

XenResult<void> get_time(Caller& c, xen_hvm_get_time_t& op) {
    op.now = c.hv.clock().system_time();
    return {};
}

} // namespace

long do_hvm_op(Caller& c, Args const& a) {
    switch (a[0]) {
    case HVMOP_set_param: return op_call<xen_hvm_param_t, set_param, Dir::in>(c, a[1]);
    case HVMOP_get_param: return op_call<xen_hvm_param_t, get_param, Dir::inout>(c, a[1]);
    case HVMOP_set_evtchn_upcall_vector:
        return op_call<xen_hvm_evtchn_upcall_vector_t, set_upcall_vector, Dir::in>(c, a[1]);
    case HVMOP_get_time: return op_call<xen_hvm_get_time_t, get_time, Dir::inout>(c, a[1]);
    default: return xen_ret(XenErr::nosys);
    }
}

} // namespace kxen::hv
