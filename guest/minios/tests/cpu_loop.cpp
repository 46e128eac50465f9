// cpu-loop: a fixed instruction loop timed by the guest's own clock, so that an
// interpreter (kxen's software vCPU) and a translator (QEMU TCG) can be compared on the same
// instructions in the same image (bench/cpu_bench.cpp).
//
//   test=cpu-loop loop=add3|add8|copy|repmovsq [ring=3|0] [iters=N] [size=BYTES]
//
//   add3      add $1,%rax; dec %rcx; jnz          3 instructions per iteration
//   add8      8 x add %rdx,%rax (one dependent chain); dec %rcx; jnz    10 per iteration
//   copy      mov (%rsi,%rcx,8),%rax; mov %rax,(%rdi,%rcx,8); inc; cmp; jne  5 per 8 bytes,
//             `iters` passes over `size` bytes (default 65536, at most 65536)
//   repmovsq  one rep movsq of size/8 qwords per pass, `iters` passes
//
// ring=0 runs the same code through sys::ring0 (interrupts off there); ring=3 (the default)
// where minios runs its tests. The clock is read just around the loop, in the ring that runs
// it: time::now_ns (pvclock under Xen/kxen, kvmclock under KVM, else the TSC at the rate
// CPUID or `tsc_khz=` says). Prints
//   KXEN-CPU loop=<l> ring=<r> iters=<n> size=<s> insns=<i> bytes=<b> ns=<t> tsc=<cycles> clock=<source>
// then passes.
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../lib.hpp"
#include "../sys.hpp"
#include "../time.hpp"
#include "../x86.hpp"
#include "test.hpp"

namespace minios::tests {
namespace {

constexpr uint64_t kMaxSize = 65536;
alignas(4096) constinit uint8_t src_buf[kMaxSize]{};
alignas(4096) constinit uint8_t dst_buf[kMaxSize]{};

enum Loop : uint64_t { add3, add8, copy, repmovsq };

struct Result {
    uint64_t ns, tsc;
};

// noinline: the ring-0 entry calls it too, so both rings run the very same bytes.
[[gnu::noinline]] void run_loop(uint64_t loop, uint64_t iters, uint64_t size) {
    switch (loop) {
    case add3: {
        uint64_t a = 0, n = iters;
        asm volatile("1: add $1, %0\n\tdec %1\n\tjnz 1b" : "+r"(a), "+r"(n)::"cc");
        break;
    }
    case add8: {
        uint64_t a = 0, n = iters, d = 3;
        asm volatile("1:\n\t"
                     "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
                     "add %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\tadd %2, %0\n\t"
                     "dec %1\n\tjnz 1b"
                     : "+r"(a), "+r"(n)
                     : "r"(d)
                     : "cc");
        break;
    }
    case copy:
        for (uint64_t p = 0; p < iters; ++p) {
            uint64_t i = 0, t;
            asm volatile("1: mov (%3,%1,8), %0\n\tmov %0, (%4,%1,8)\n\tinc %1\n\tcmp %2, %1\n\tjne 1b"
                         : "=&r"(t), "+r"(i)
                         : "r"(size / 8), "r"(src_buf), "r"(dst_buf)
                         : "cc", "memory");
        }
        break;
    case repmovsq:
        for (uint64_t p = 0; p < iters; ++p) {
            const void* s = src_buf;
            void* d = dst_buf;
            uint64_t n = size / 8;
            asm volatile("rep movsq" : "+S"(s), "+D"(d), "+c"(n)::"memory");
        }
        break;
    }
}

Result timed(uint64_t loop, uint64_t iters, uint64_t size) {
    uint64_t t0 = time::now_ns();
    uint64_t c0 = x86::rdtsc();
    run_loop(loop, iters, size);
    uint64_t c1 = x86::rdtsc();
    uint64_t t1 = time::now_ns();
    return {t1 - t0, c1 - c0};
}

uint64_t timed_ring0(uint64_t loop, uint64_t iters, uint64_t size, uint64_t out) {
    *reinterpret_cast<Result*>(out) = timed(loop, iters, size);  // identity-mapped caller stack
    return 0;
}

}  // namespace

void cpu_loop() {
    static constexpr const char* kNames[] = {"add3", "add8", "copy", "repmovsq"};
    const char* name = cmdline::get("loop");
    uint64_t loop = 4;
    for (uint64_t i = 0; i < 4 && name; ++i)
        if (lib::str_eq(name, kNames[i])) loop = i;
    if (loop == 4) fail("loop=%s (add3|add8|copy|repmovsq)", name ? name : "");
    uint64_t ring = 3, iters = 0, size = kMaxSize;
    if (!cmdline::get_u64("ring", 3, &ring) || (ring != 0 && ring != 3)) fail("ring= (0|3)");
    if (!cmdline::get_u64("iters", loop <= add8 ? 100'000'000 : 1000, &iters) || !iters) fail("iters= (> 0)");
    if (!cmdline::get_u64("size", kMaxSize, &size) || size < 8 || size > kMaxSize || size % 8)
        fail("size= (8..%lu, a multiple of 8)", kMaxSize);

    Result r{};
    if (ring == 0) {
        uint64_t rc = sys::ring0(timed_ring0, loop, iters, size, sys::arg(&r));
        if (sys::is_fault(rc)) fail("ring-0 loop faulted (vector %lu)", rc & 0xff);
    } else {
        r = timed(loop, iters, size);
    }
    uint64_t insns = loop == add3 ? 3 * iters
                   : loop == add8 ? 10 * iters
                   : loop == copy ? 5 * (size / 8) * iters
                                  : iters;  // one rep movsq per pass
    uint64_t bytes = loop >= copy ? size * iters : 0;
    console::println("KXEN-CPU loop=%s ring=%lu iters=%lu size=%lu insns=%lu bytes=%lu ns=%lu tsc=%lu clock=%s",
                     kNames[loop], ring, iters, size, insns, bytes, r.ns, r.tsc, time::source());
}

}  // namespace minios::tests
