// minios::control: the toolstack's requests through xenstore, as Linux's xen/manage.c
// serves them. start() advertises control/feature-poweroff and control/feature-reboot and
// watches control/shutdown; poll() then acts on "poweroff", "halt", "reboot" or "crash":
// it acknowledges by writing "" to control/shutdown inside a transaction (retried on
// EAGAIN), prints "control: shutdown request <value>", and shuts down with that reason
// (sched::finish, which flushes the console first). "suspend" (control/feature-suspend is
// advertised too) is acknowledged the same way, then suspend::run() suspends the domain;
// poll() returns once we run again, in a new domain ("control: resumed in a new domain",
// the features advertised again) or in the same one after a cancel ("control: suspend
// cancelled, running on"). Other values are left unacknowledged.
//
// Anything that waits indefinitely calls poll() when it wakes (or waits through wait()),
// so `kxl shutdown` reaches a guest that is just idling.
#pragma once
#include <stdint.h>

#include "xen_abi.hpp"

namespace minios::control {

// Connects to the store if needed (xenbus::init) and sets up the above. Idempotent. 0, or
// why not (no store, nobody serving it): the guest then goes on without control.
long start();
bool active();
// Reads what the store sent; on a shutdown request, does not return; a suspend returns
// once we run again.
void poll();
// evtchn::wait(port, deadline), serving the store meanwhile.
bool wait(evtchn_port_t port, uint64_t deadline_ns);
// How many times we resumed in a new domain: a driver that sees it change knows its rings,
// grants and ports went with the old domain and connects again.
uint64_t new_domains();
// Blocks for good, serving the store (on_done=stay).
[[noreturn]] void idle_forever();

}  // namespace minios::control
