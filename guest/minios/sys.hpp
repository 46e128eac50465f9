// minios::sys: the ring-3 side of the int3 trap ABI (abi.h). Each wrapper also
// works when already in ring 0 (fatal-trap printing, ring-0 tests): it then calls
// the service directly, since int3 from ring 0 would not switch stacks the same way.
#pragma once
#include <stdint.h>

#include "abi.h"
#include "x86.hpp"

extern "C" {
long hypercall_dispatch(uint64_t nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);
uint64_t ring0_dispatch(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4);
long sys_block();
}

namespace minios::sys {

inline uint64_t trap(uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                     uint64_t a4 = 0, uint64_t a5 = 0) {
    register uint64_t r10 asm("r10") = a3;
    register uint64_t r8 asm("r8") = a4;
    register uint64_t r9 asm("r9") = a5;
    asm volatile("int3"
                 : "+a"(nr), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8), "+r"(r9)
                 :
                 : "rcx", "r11", "memory", "cc");
    return nr;
}

// A Xen hypercall, issued from ring 0 (Xen refuses them from ring 3).
inline long hypercall(unsigned nr, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0,
                      uint64_t a5 = 0) {
    if (x86::cpl() == 0) return hypercall_dispatch(nr, a1, a2, a3, a4, a5);
    return long(trap(SYS_HYPERCALL, nr, a1, a2, a3, a4, a5));
}

// A ring-0 function. If it raises an exception, this returns faulted(vector)
// instead (trap.cpp records the details).
using Ring0Fn = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t);
constexpr uint64_t kFaultTag = 0xfa17'0000'0000'0000ull;
constexpr uint64_t faulted(unsigned vector) { return kFaultTag | vector; }
constexpr bool is_fault(uint64_t r) { return (r & 0xffff'0000'0000'0000ull) == kFaultTag; }

inline uint64_t ring0(Ring0Fn fn, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0, uint64_t a4 = 0) {
    if (x86::cpl() == 0) return fn(a1, a2, a3, a4);
    return trap(SYS_RING0, uint64_t(fn), a1, a2, a3, a4);
}

template <typename T>
uint64_t arg(T* p) { return uint64_t(p); }

}  // namespace minios::sys
