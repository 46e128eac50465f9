#include "evtchn.hpp"

#include "abi.h"
#include "hypercall.hpp"
#include "sched.hpp"
#include "shared_info.hpp"

namespace minios::evtchn {
namespace {

constexpr unsigned kWords = sizeof(xen_ulong_t) * 8;  // 2-level: 64 words of 64 ports
constinit volatile uint64_t fired[kWords]{};
constinit volatile uint64_t upcall_count = 0;
constinit volatile uint64_t if_clear_count = 0;

}  // namespace

long init() {
    xen_hvm_param p{};
    p.domid = DOMID_SELF;
    p.index = HVM_PARAM_CALLBACK_IRQ;
    p.value = (uint64_t{HVM_PARAM_CALLBACK_TYPE_VECTOR} << 56) | VEC_UPCALL;
    shared_info::get()->vcpu_info[0].evtchn_upcall_mask = 0;
    return xen::hvm_op(HVMOP_set_param, &p);
}

long bind_virq(uint32_t virq, uint32_t vcpu) {
    evtchn_bind_virq op{};
    op.virq = virq;
    op.vcpu = vcpu;
    long rc = xen::event_channel_op(EVTCHNOP_bind_virq, &op);
    return rc < 0 ? rc : long(op.port);
}

long unmask(evtchn_port_t port) {
    evtchn_unmask op{};
    op.port = port;
    return xen::event_channel_op(EVTCHNOP_unmask, &op);
}

bool take(evtchn_port_t port) {
    if (port >= kWords * 64) return false;
    return x86::lock_btr(&fired[port / 64], port % 64);
}

uint64_t upcalls() { return upcall_count; }
uint64_t upcalls_with_if_clear() { return if_clear_count; }

}  // namespace minios::evtchn

// Ring 0, IF=0. Follows the order public/xen.h asks for: clear
// evtchn_upcall_pending before reading the selector, so an event that arrives
// meanwhile raises a fresh upcall instead of being lost. Pending bits are cleared
// a word at a time (two locked ops per word, not per port) to keep the emulated
// instruction count down. minios never masks a port it uses, so no EVTCHNOP_unmask.
extern "C" void evtchn_upcall(minios::evtchn::UpcallFrame* f) {
    using namespace minios;
    volatile shared_info_t* s = shared_info::get();
    volatile vcpu_info_t& v = s->vcpu_info[0];
    v.evtchn_upcall_pending = 0;
    uint64_t sel = x86::xchg(&v.evtchn_pending_sel, 0);
    while (sel) {
        unsigned w = x86::bsf(sel);
        sel &= sel - 1;
        uint64_t bits = s->evtchn_pending[w] & ~s->evtchn_mask[w];
        if (!bits) continue;
        x86::lock_and(&s->evtchn_pending[w], ~bits);
        x86::lock_or(&evtchn::fired[w], bits);
    }
    evtchn::upcall_count = evtchn::upcall_count + 1;
    if (!(f->rflags & 0x200)) evtchn::if_clear_count = evtchn::if_clear_count + 1;
    if ((f->cs & 3) == 0) sched::abort_block(f);
}
