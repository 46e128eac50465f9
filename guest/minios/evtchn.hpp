// minios::evtchn: 2-level event channels. The ring-0 upcall moves pending bits
// out of shared_info into `fired`, a bitmap ring 3 consumes with take().
#pragma once
#include <stdint.h>

#include "xen_abi.hpp"

namespace minios::evtchn {

// Interrupt frame of the upcall vector as entry.S pushes it.
struct UpcallFrame {
    uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
    uint64_t rip, cs, rflags, rsp, ss;
};

// HVM_PARAM_CALLBACK_IRQ = vector VEC_UPCALL; clears vcpu_info[0]'s upcall mask.
long init();
// >= 0: the port; < 0: Xen errno.
long bind_virq(uint32_t virq, uint32_t vcpu);
long unmask(evtchn_port_t port);
// True (once) if the port fired since the last take().
bool take(evtchn_port_t port);
uint64_t upcalls();
// Upcalls injected while the interrupted code had IF=0: a hypervisor bug.
uint64_t upcalls_with_if_clear();

}  // namespace minios::evtchn

extern "C" void evtchn_upcall(minios::evtchn::UpcallFrame* f);
