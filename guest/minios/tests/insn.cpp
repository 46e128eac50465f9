// insn: runs in RING 0 each instruction that KVM's emulator cannot run on our
// hosts (DESIGN.md sec. 7), so the hypervisor has to emulate it, and checks the
// result. Every case is its own sys::ring0 call: a crash names the culprit (the
// last "insn:" line printed is the one before it), and a guest exception comes
// back as a FAIL instead of killing the test. The same test runs under QEMU TCG,
// which validates the expected values. Cases whose CPUID bit is clear are skipped
// unless all=1 (on our hosts ring-0 CPUID hides RDTSCP although the CPU has it).
//
// XMM registers are used in inline asm without clobbers: GCC cannot name them
// under -mgeneral-regs-only, and no compiled code in minios touches them.
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../lib.hpp"
#include "../sys.hpp"
#include "../trap.hpp"
#include "test.hpp"

namespace minios::tests {
namespace {

struct Result {
    uint64_t got, want;
    const char* note;  // printed after "ok"
};

struct Features {
    bool popcnt, sse42, cx16, xsave, smap, rdtscp;
};
constinit Features feat{};

constexpr uint64_t kLo = 0x0123456789abcdefull, kHi = 0xfedcba9876543210ull;
alignas(16) constinit uint64_t pat[2] = {kLo, kHi};
alignas(16) constinit uint64_t out[2]{};
alignas(16) constinit uint8_t fx[512]{};
alignas(64) constinit uint8_t xsave_area[1024]{};

template <typename T>
T& at(uint8_t* area, unsigned off) {
    return *reinterpret_cast<T*>(area + off);  // SAFETY: fixed FXSAVE/XSAVE layout, aligned offsets
}

Result& res(uint64_t p) { return *reinterpret_cast<Result*>(p); }

uint64_t check(Result& r, uint64_t got, uint64_t want) {
    r.got = got;
    r.want = want;
    return got == want ? 0 : 1;
}

// ---- setup ---------------------------------------------------------------

uint64_t setup_ring0(uint64_t, uint64_t, uint64_t, uint64_t) {
    auto c1 = x86::cpuid(1);
    auto c7 = x86::cpuid(0).eax >= 7 ? x86::cpuid(7) : x86::Cpuid{};
    auto e1 = x86::cpuid(0x80000000).eax >= 0x80000001 ? x86::cpuid(0x80000001) : x86::Cpuid{};
    feat = {bool(c1.ecx & (1u << 23)), bool(c1.ecx & (1u << 20)), bool(c1.ecx & (1u << 13)),
            bool(c1.ecx & (1u << 26)), bool(c7.ebx & (1u << 20)), bool(e1.edx & (1u << 27))};
    constexpr uint64_t kOsfxsr = 1u << 9, kOsxmmexcpt = 1u << 10, kOsxsave = 1u << 18;
    x86::write_cr4(x86::read_cr4() | kOsfxsr | kOsxmmexcpt | (feat.xsave ? kOsxsave : 0));
    if (feat.xsave) asm volatile("xsetbv" ::"c"(0), "a"(3), "d"(0));  // XCR0 = x87 | SSE
    asm volatile("fninit");
    return 0;
}

// ---- SSE -----------------------------------------------------------------

uint64_t movdqu_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    out[0] = out[1] = 0;
    asm volatile("movdqu (%0), %%xmm0\n\tmovdqu %%xmm0, (%1)" ::"r"(pat), "r"(out) : "memory");
    if (out[0] != kLo) return check(res(r), out[0], kLo);
    return check(res(r), out[1], kHi);
}

uint64_t pxor_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    out[0] = out[1] = ~0ull;
    asm volatile("movdqu (%0), %%xmm0\n\tpxor %%xmm0, %%xmm0\n\tmovdqu %%xmm0, (%1)" ::"r"(pat), "r"(out) : "memory");
    return check(res(r), out[0] | out[1], 0);
}

uint64_t xorps_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    out[0] = out[1] = ~0ull;
    asm volatile("movdqu (%0), %%xmm1\n\txorps %%xmm1, %%xmm1\n\tmovdqu %%xmm1, (%1)" ::"r"(pat), "r"(out) : "memory");
    return check(res(r), out[0] | out[1], 0);
}

uint64_t movq_xmm_to_mem_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    out[0] = out[1] = ~0ull;
    asm volatile("movdqu (%0), %%xmm2\n\tmovq %%xmm2, (%1)" ::"r"(pat), "r"(out) : "memory");
    if (out[1] != ~0ull) return check(res(r), out[1], ~0ull);  // wrote past 8 bytes
    return check(res(r), out[0], kLo);
}

uint64_t movq_mem_to_xmm_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    static constinit uint64_t src = 0x1122334455667788ull;
    out[0] = out[1] = 0;
    asm volatile("movdqu (%0), %%xmm3\n\tmovq (%1), %%xmm3\n\tmovdqu %%xmm3, (%2)" ::"r"(pat), "r"(&src), "r"(out)
                 : "memory");
    if (out[1]) return check(res(r), out[1], 0);  // must zero the upper half
    return check(res(r), out[0], src);
}

uint64_t movq_gpr_to_xmm_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    out[0] = out[1] = 0;
    asm volatile("movdqu (%0), %%xmm4\n\tmovq %2, %%xmm4\n\tmovdqu %%xmm4, (%1)" ::"r"(pat), "r"(out),
                 "r"(0x0badc0ffee0ddf00ull)
                 : "memory");
    if (out[1]) return check(res(r), out[1], 0);
    return check(res(r), out[0], 0x0badc0ffee0ddf00ull);
}

uint64_t movq_xmm_to_gpr_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    uint64_t v;
    asm volatile("movdqu (%1), %%xmm5\n\tmovq %%xmm5, %0" : "=r"(v) : "r"(pat) : "memory");
    return check(res(r), v, kLo);
}

uint64_t movd_gpr_to_xmm_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    out[0] = out[1] = 0;
    asm volatile("movdqu (%0), %%xmm6\n\tmovd %2, %%xmm6\n\tmovdqu %%xmm6, (%1)" ::"r"(pat), "r"(out), "r"(0xcafef00du)
                 : "memory");
    if (out[1]) return check(res(r), out[1], 0);
    return check(res(r), out[0], 0xcafef00d);
}

uint64_t movd_xmm_to_gpr_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    uint64_t v = ~0ull;
    asm volatile("movdqu (%1), %%xmm7\n\tmovd %%xmm7, %k0" : "+r"(v) : "r"(pat) : "memory");
    return check(res(r), v, kLo & 0xffffffff);  // 32-bit destination zero-extends
}

uint64_t movd_mem_xmm_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    static constinit uint32_t src = 0x600dbeef;
    out[0] = out[1] = ~0ull;
    // m32 -> xmm (zeroes the rest), then xmm -> m32 over an all-ones qword.
    asm volatile("movdqu (%0), %%xmm0\n\tmovd (%1), %%xmm0\n\tmovd %%xmm0, (%2)" ::"r"(pat), "r"(&src), "r"(out)
                 : "memory");
    return check(res(r), out[0], 0xffffffff'00000000ull | src);
}

uint64_t mxcsr_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    uint32_t in = 0x7f80, got = 0, dflt = 0x1f80;  // round toward zero, all exceptions masked
    asm volatile("ldmxcsr %1\n\tstmxcsr %0\n\tldmxcsr %2" : "=m"(got) : "m"(in), "m"(dflt));
    return check(res(r), got, in);
}

// ---- x87 -----------------------------------------------------------------

// fld1 pushes +1.0; fxsave (which KVM can emulate) shows it: TOP = 7, tag of
// physical register 7 valid, ST0 = 1.0 in 80-bit form (mantissa 1 << 63, exponent 0x3fff).
uint64_t fld1_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    asm volatile("fninit\n\tfld1\n\tfxsave (%0)\n\tfninit" ::"r"(fx) : "memory");
    uint16_t fsw = at<uint16_t>(fx, 2);
    uint8_t ftw = at<uint8_t>(fx, 4);
    if (((fsw >> 11) & 7) != 7) return check(res(r), fsw, 7u << 11);
    if (!(ftw & 0x80)) return check(res(r), ftw, 0x80);
    if (at<uint16_t>(fx, 40) != 0x3fff) return check(res(r), at<uint16_t>(fx, 40), 0x3fff);
    return check(res(r), at<uint64_t>(fx, 32), 1ull << 63);
}

// ---- XSAVE ----------------------------------------------------------------

uint64_t xgetbv_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return check(res(r), (uint64_t{hi} << 32) | lo, 3);  // what setup wrote; bit 0 (x87) must be set
}

// XSTATE_BV = 0 in the header: xrstor puts x87 and SSE in their init state. MXCSR
// is loaded from the area regardless, and we store the default there.
uint64_t xrstor_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    for (auto& b : xsave_area) b = 0;
    at<uint32_t>(xsave_area, 24) = 0x1f80;
    uint32_t dirty = 0x7f80;
    asm volatile("movdqu (%0), %%xmm7\n\tldmxcsr %1\n\tfninit\n\tfld1" ::"r"(pat), "m"(dirty) : "memory");
    asm volatile("xrstor (%0)" ::"r"(xsave_area), "a"(3), "d"(0) : "memory");
    asm volatile("fxsave (%0)" ::"r"(fx) : "memory");
    uint64_t xmm7 = at<uint64_t>(fx, 160 + 7 * 16) | at<uint64_t>(fx, 168 + 7 * 16);
    if (xmm7) return check(res(r), xmm7, 0);
    if (at<uint32_t>(fx, 24) != 0x1f80) return check(res(r), at<uint32_t>(fx, 24), 0x1f80);
    return check(res(r), at<uint16_t>(fx, 2) | at<uint8_t>(fx, 4), 0);  // FSW and abridged FTW
}

// ---- integer ----------------------------------------------------------------

uint64_t popcnt_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    static constexpr uint64_t in[] = {0, 1, 0x8000000000000001ull, ~0ull, kLo};
    static constexpr uint64_t want[] = {0, 1, 2, 64, 32};
    for (unsigned i = 0; i < 5; ++i) {
        uint64_t v;
        asm volatile("popcnt %1, %0" : "=r"(v) : "r"(in[i]) : "cc");
        if (v != want[i]) return check(res(r), v, want[i]);
    }
    uint32_t v32;
    asm volatile("popcnt %1, %0" : "=r"(v32) : "r"(0xffff0000u) : "cc");
    return check(res(r), v32, 16);
}

// CRC-32C check value of "123456789" is 0xe3069283 (init ~0, final xor ~0).
uint64_t crc32_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    static constexpr char msg[] = "123456789";
    uint32_t c = ~0u;
    for (unsigned i = 0; i < 9; ++i) asm volatile("crc32b %1, %0" : "+r"(c) : "m"(msg[i]));
    if (~c != 0xe3069283u) return check(res(r), ~c, 0xe3069283u);
    uint64_t q = ~0ull, eight;
    memcpy(&eight, msg, 8);
    asm volatile("crc32q %1, %0" : "+r"(q) : "r"(eight));
    uint32_t c2 = uint32_t(q);
    asm volatile("crc32b %1, %0" : "+r"(c2) : "m"(msg[8]));
    return check(res(r), ~c2, 0xe3069283u);
}

uint64_t cmpxchg16b_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    alignas(16) static constinit uint64_t m[2] = {};
    m[0] = 1, m[1] = 2;
    uint64_t lo = 1, hi = 2;
    bool ok;
    asm volatile("lock cmpxchg16b %0" : "+m"(m), "+a"(lo), "+d"(hi), "=@ccz"(ok) : "b"(3ull), "c"(4ull) : "memory");
    if (!ok || m[0] != 3 || m[1] != 4) return check(res(r), m[0] | m[1] << 8 | uint64_t(ok) << 16, 3 | 4 << 8 | 1 << 16);
    lo = 9, hi = 9;  // mismatch: no store, rdx:rax <- memory
    asm volatile("lock cmpxchg16b %0" : "+m"(m), "+a"(lo), "+d"(hi), "=@ccz"(ok) : "b"(5ull), "c"(6ull) : "memory");
    if (ok || m[0] != 3 || m[1] != 4) return check(res(r), m[0] | m[1] << 8 | uint64_t(ok) << 16, 3 | 4 << 8);
    return check(res(r), lo | hi << 8, 3 | 4 << 8);
}

// IA32_TSC_AUX, read in its own call: where CPUID hides RDTSCP (our hosts) the
// MSR raises #GP, and then rdtscp can only be checked for monotonicity.
uint64_t tsc_aux_ring0(uint64_t, uint64_t, uint64_t, uint64_t) { return x86::rdmsr(0xc0000103) & 0xffffffff; }

uint64_t rdtscp_ring0(uint64_t r, uint64_t aux, uint64_t, uint64_t) {
    uint64_t t0 = x86::rdtsc();
    uint32_t lo, hi, ecx;
    asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(ecx));
    uint64_t t1 = (uint64_t{hi} << 32) | lo;
    uint64_t t2 = x86::rdtsc();
    if (t1 < t0 || t2 < t1) return check(res(r), t1, t0);
    if (sys::is_fault(aux)) {
        res(r).note = "(TSC_AUX MSR unreadable: ecx not checked)";
        return check(res(r), ecx, ecx);
    }
    return check(res(r), ecx, aux);
}

uint64_t clac_stac_ring0(uint64_t r, uint64_t, uint64_t, uint64_t) {
    constexpr uint64_t kAc = 1u << 18;
    uint64_t after_stac, after_clac;
    asm volatile("stac\n\tpushfq\n\tpopq %0\n\tclac\n\tpushfq\n\tpopq %1" : "=r"(after_stac), "=r"(after_clac)::"cc");
    if (!(after_stac & kAc)) return check(res(r), after_stac & kAc, kAc);
    return check(res(r), after_clac & kAc, 0);
}

struct Case {
    const char* name;
    sys::Ring0Fn fn;
    bool Features::*needs;  // nullptr: baseline x86-64
};

constexpr Case kCases[] = {
    {"movdqu (control)", movdqu_ring0, nullptr},
    {"pxor", pxor_ring0, nullptr},
    {"xorps", xorps_ring0, nullptr},
    {"movq xmm->m64", movq_xmm_to_mem_ring0, nullptr},
    {"movq m64->xmm", movq_mem_to_xmm_ring0, nullptr},
    {"movq r64->xmm", movq_gpr_to_xmm_ring0, nullptr},
    {"movq xmm->r64", movq_xmm_to_gpr_ring0, nullptr},
    {"movd r32->xmm", movd_gpr_to_xmm_ring0, nullptr},
    {"movd xmm->r32", movd_xmm_to_gpr_ring0, nullptr},
    {"movd m32<->xmm", movd_mem_xmm_ring0, nullptr},
    {"ldmxcsr/stmxcsr", mxcsr_ring0, nullptr},
    {"fld1", fld1_ring0, nullptr},
    {"xgetbv", xgetbv_ring0, &Features::xsave},
    {"xrstor", xrstor_ring0, &Features::xsave},
    {"popcnt", popcnt_ring0, &Features::popcnt},
    {"crc32", crc32_ring0, &Features::sse42},
    {"cmpxchg16b", cmpxchg16b_ring0, &Features::cx16},
    {"rdtscp", rdtscp_ring0, &Features::rdtscp},
    {"clac/stac", clac_stac_ring0, &Features::smap},
};

}  // namespace

void insn() {
    uint64_t all;
    if (!cmdline::get_u64("all", 0, &all)) fail("bad all= (0|1)");
    sys::ring0(setup_ring0);
    console::println("insn: cpuid popcnt %d sse4.2 %d cx16 %d xsave %d smap %d rdtscp %d", feat.popcnt, feat.sse42,
                     feat.cx16, feat.xsave, feat.smap, feat.rdtscp);
    uint64_t const tsc_aux = sys::ring0(tsc_aux_ring0);
    unsigned failed = 0;
    const char* first = nullptr;
    for (auto const& c : kCases) {
        if (c.needs && !(feat.*c.needs) && !all) {
            console::println("insn: %s skip (not in CPUID)", c.name);
            continue;
        }
        Result r{};
        uint64_t rc = sys::ring0(c.fn, uint64_t(&r), tsc_aux);
        if (rc == 0) {
            console::println("insn: %s ok%s%s", c.name, r.note ? " " : "", r.note ? r.note : "");
            continue;
        }
        ++failed;
        if (!first) first = c.name;
        if (sys::is_fault(rc))
            console::println("insn: %s FAIL exception %lu at rip 0x%lx err 0x%lx", c.name, rc & 0xff,
                             trap::last_fault.rip, trap::last_fault.error);
        else console::println("insn: %s FAIL got 0x%lx want 0x%lx", c.name, r.got, r.want);
    }
    if (failed) fail("%u instruction(s) wrong, first: %s", failed, first);
}

}  // namespace minios::tests
