// minios::trap: exceptions. In ring 3 or ring 0 outside a sys::ring0 call they are
// fatal (print, then SHUTDOWN_crash); inside one, the call returns sys::faulted().
#pragma once
#include <stdint.h>

namespace minios::trap {

// Layout pushed by entry.S trap_common.
struct Frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

// The last exception a sys::ring0 call recovered from.
struct Fault {
    uint64_t vector, error, rip, cr2;
};
extern constinit Fault last_fault;

}  // namespace minios::trap

extern "C" void trap_entry(minios::trap::Frame* f);
