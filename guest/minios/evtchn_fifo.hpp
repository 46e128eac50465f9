// minios::evtchn::fifo: the FIFO event-channel ABI, guest side (public/event_channel.h,
// Xen's docs/misc "FIFO-based event channel ABI", Linux's events_fifo.c).
//
// One control block (vCPU 0) and up to kArrayPages event-array pages, all pages of our own
// BSS handed to Xen with EVTCHNOP_init_control / EVTCHNOP_expand_array. Array pages are
// initialised with every word MASKED before Xen sees them (Xen never writes a word it has
// not been asked to raise), and a port is unmasked once bound.
//
// Consumption runs in ring 3 (the words are ordinary, user-accessible memory): xchg the
// READY word, and per set priority bit, from the lowest (= highest priority) up, take one
// event off that queue (HEAD from the control block when our local head is 0; clear LINKED
// and LINK with cmpxchg, the LINK read being the next head), deliver it if PENDING and not
// MASKED, clearing PENDING; then re-read READY, so a higher-priority event raised meanwhile
// goes next.
#pragma once
#include <stdint.h>

#include "xen_abi.hpp"

namespace minios::evtchn::fifo {

constexpr unsigned kWordsPerPage = 4096 / sizeof(event_word_t);
constexpr unsigned kArrayPages = 4;

// EVTCHNOP_init_control for vCPU 0 and the first array page.
long init();
// In a new domain after a resume, where none of it is registered any more: as Linux's
// evtchn_fifo_resume, a zeroed control block registered again and the array grown afresh
// (pages masked) as ports are bound again.
long resume();
bool active();
// EVTCHNOP_expand_array until `port` has an event word; 0 or a Xen errno.
long ensure(evtchn_port_t port);
unsigned pages();
// The port's event word, or nullptr if no array page holds it.
volatile event_word_t* word(evtchn_port_t port);
// What init() found in the first array page after EVTCHNOP_expand_array: the number of
// words whose MASKED bit the hypervisor cleared (Xen leaves the page alone: 0).
unsigned words_unmasked_by_expand();

void mask(evtchn_port_t port);
// Linux's evtchn_fifo_unmask: clear MASKED unless PENDING; if PENDING, EVTCHNOP_unmask
// (Xen clears MASKED and links the event). Should the hypervisor leave MASKED set, clear
// it ourselves and ask again (what older Linux did), counted in unmask_fallbacks().
long unmask(evtchn_port_t port);
unsigned unmask_fallbacks();

// Consume the queues of vCPU 0, calling evtchn::deliver(port) for each event.
void poll();

}  // namespace minios::evtchn::fifo
