// minios::console: one line per call, to the PV console ring when the toolstack gave us
// one (HVM_PARAM_CONSOLE_PFN/EVTCHN, io/console.h, served by dom0's backend), else to the
// Xen console (console_io) or, with no Xen, to COM1. Each call costs one trap (the ring's
// notification or console_io), so build whole lines first.
//
// A backend that has not consumed the first line written to the ring within a second,
// that consumes nothing for a second while the ring is full, or that has not emptied the
// ring within flush()'s timeout counts as absent: what it left in the ring is written
// again through console_io and console_io is used from then on, so a host without a
// backend still logs everything (with a late backend, that part twice).
#pragma once
#include <stddef.h>
#include <stdint.h>

namespace minios::console {

void write(const char* s, size_t n);
// printf-style (fmt.hpp), adds the newline.
void println(const char* f, ...) __attribute__((format(printf, 1, 2)));

// After evtchn::init: switch output to the console ring if the toolstack set one up.
// True if it did.
bool init_ring();
// Around a suspend. suspend() flushes the ring and detaches from it: until resume(),
// output goes through console_io, since the port may name another channel (or none) once
// we run in a new domain. resume(true), in a new domain: the ring page moved with our
// memory, but the toolstack bound a fresh port: HVM_PARAM_CONSOLE_EVTCHN is read again.
// A backend given up on stays given up.
void suspend();
void resume(bool new_domain);
// "ring" (port N), "console_io" or "serial", for the boot banner.
const char* sink();
// Output goes to the ring (it was set up and the backend has not been given up on).
bool ring_active();
long ring_port();

// Waits (at most timeout_ns) until the backend has consumed everything written to the
// ring; before a shutdown, so the last lines are not lost with the domain.
void flush(uint64_t timeout_ns = 500'000'000);

// Console input: up to `cap` bytes from the ring's `in` buffer, without waiting (0: none,
// or no ring). Indexes that make no sense drop what the backend claims to have written.
size_t read(char* buf, size_t cap);
// Waits until input is there (true) or pvclock passes deadline_ns; `idle`, if given,
// runs on every wakeup (control::poll serves the store meanwhile).
bool wait_input(uint64_t deadline_ns, void (*idle)() = nullptr);

}  // namespace minios::console
