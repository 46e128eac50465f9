// minios::evtchn: event channels, 2-level or FIFO ABI (public/event_channel.h).
//
// The ring-0 upcall (entry.S) only acknowledges (clears evtchn_upcall_pending) and counts; ring 3
// consumes the events itself, natively: poll() moves newly pending ports into `fired`
// (2-level: from shared_info's bitmaps; FIFO: by walking the queues, evtchn_fifo.cpp),
// and take() consumes one. Waiting is race-free: wait() passes the upcall count it saw
// before polling to sched::block_since(), which does not block if an upcall came since.
#pragma once
#include <stdint.h>

#include "xen_abi.hpp"

namespace minios::evtchn {

constexpr unsigned kMaxPorts = 4096;  // 2-level's limit; minios's FIFO array pool holds as many

enum class Abi { two_level, fifo };

// HVM_PARAM_CALLBACK_IRQ = vector VEC_UPCALL; clears vcpu_info[0]'s upcall mask.
long init();
// In a new domain after a resume: every binding is gone. Forgets what fired, then sets up
// the upcall again (init) and, with FIFO, the control block (fifo::resume); the owners of
// ports bind or adopt them again.
long resume();
// Switches to the FIFO ABI (EVTCHNOP_init_control for vCPU 0, first event-array page).
// Call before binding any port. 0 or a Xen errno.
long use_fifo();
Abi abi();
const char* abi_name();

// >= 0: the port; < 0: Xen errno. In FIFO mode each new port gets an event word
// (EVTCHNOP_expand_array as needed) and is unmasked.
long bind_virq(uint32_t virq, uint32_t vcpu);
long alloc_unbound(domid_t remote_dom);
long bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port);
long send(evtchn_port_t port);
long close(evtchn_port_t port);
// 2-level: EVTCHNOP_unmask. FIFO: Linux's protocol (clear MASKED unless PENDING, else
// let Xen clear it in EVTCHNOP_unmask, which also links the pending event).
long unmask(evtchn_port_t port);
// Sets the port's mask bit (shared_info or the FIFO event word).
void mask(evtchn_port_t port);
long set_priority(evtchn_port_t port, uint32_t priority);
// A port the toolstack bound for us (console, xenstore): gives it a FIFO event word and
// masks it, so its peer's notifications stay out of other tests' event streams until the
// owner unmasks it to wait. 0 or a Xen errno.
long adopt(evtchn_port_t port);
// Our own domain id, which Xen tells an HVM guest nowhere directly: alloc_unbound with
// remote_dom = DOMID_SELF stores our real id, and EVTCHNOP_status reports it. < 0: errno.
long self_domid();

// Ring 3: move every newly pending, unmasked port into `fired`.
void poll();
// poll(), then true (once) if the port fired since the last take().
bool take(evtchn_port_t port);
// Waits until `port` fires (true) or pvclock passes deadline_ns (false), blocking
// between polls; the VIRQ_TIMER one-shot (sched::timer_by) bounds each block.
bool wait(evtchn_port_t port, uint64_t deadline_ns);
// wait() first polls for this long before it blocks (0: never; the default).
void set_spin(uint64_t ns);
// Same, busy-polling without blocking: for checks that must not depend on event
// delivery working (a hostile test checking delivery afterwards).
bool spin_wait(evtchn_port_t port, uint64_t deadline_ns);

// Optional: record every port poll() delivers, in order (FIFO priority checks).
void trace(evtchn_port_t* buf, unsigned cap, unsigned* n);

uint64_t upcalls();
// Upcalls injected while the interrupted code had IF=0: a hypervisor bug.
uint64_t upcalls_with_if_clear();

// Internal: mark ports fired (evtchn_fifo.cpp's consumer calls it).
void deliver(evtchn_port_t port);

}  // namespace minios::evtchn

extern "C" {
// Incremented by every upcall (entry.S, ring 0, IF=0); sys_block compares it.
extern volatile uint64_t evtchn_upcall_count;
// Upcalls that interrupted code running with IF=0.
extern volatile uint64_t evtchn_upcall_if_clear;
}
