// SSE/SSE2/SSE3/SSE4.1 floating point: arithmetic, compares, conversions, rounding.
//
// The host's own SSE unit computes every result under the guest's MXCSR (rounding control,
// DAZ, FTZ), so values and exception flags are the hardware's, bit for bit, without a soft
// float. The host runs with every exception masked and never traps; what an exception the
// guest left unmasked means is decided here (SDM Vol. 1 sec. 11.5): the flags go to the
// guest's MXCSR, the destination is left alone, and the instruction faults with #XM (#UD when
// CR4.OSXMMEXCPT is clear). Rows are in place: the only state written before that fault is
// MXCSR, which the SDM has the processor update before it delivers #XM.
#include <array>
#include <utility>
#include <xmmintrin.h>
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

namespace mx {
inline constexpr u32 ie = 1, de = 2, ze = 4, oe = 8, ue = 16, pe = 32, flags = 0x3f;
inline constexpr u32 pre = ie | de | ze;   // detected before the computation (sec. 11.5.2)
inline constexpr u32 masks = 0x1f80, um = 1u << 11, ftz = 1u << 15;
}

// The host's MXCSR for a guest operation: the guest's RC/DAZ/FTZ with every exception masked.
// FTZ only acts while underflow is masked (sec. 10.2.3.3), so an unmasked UE turns it off.
u32 host_csr(u32 guest) {
    u32 v = (guest & ~mx::flags) | mx::masks;
    if (!(guest & mx::um)) v &= ~mx::ftz;
    return v;
}

// One host instruction "insn b, a" on whole registers; returns the host's MXCSR after it.
using HostOp = u32 (*)(Xmm& a, Xmm const& b, u32 csr);

#define HOST(name, insn)                                                                               \
    u32 name(Xmm& a, Xmm const& b, u32 csr) {                                                         \
        __m128 va, vb;                                                                                 \
        std::memcpy(&va, &a, 16);                                                                      \
        std::memcpy(&vb, &b, 16);                                                                      \
        u32 saved, out;                                                                                \
        asm volatile("stmxcsr %[saved]\n\tldmxcsr %[csr]\n\t" insn " %[b], %[a]\n\tstmxcsr %[out]\n\t" \
                     "ldmxcsr %[saved]"                                                                \
                     : [a] "+x"(va), [saved] "=m"(saved), [out] "=m"(out)                              \
                     : [b] "x"(vb), [csr] "m"(csr));                                                   \
        std::memcpy(&a, &va, 16);                                                                      \
        return out;                                                                                    \
    }

// The imm8 forms: one instantiation per immediate value, picked from a table at run time.
#define HOSTI(name, insn, count)                                                                      \
    template <unsigned I> u32 name##_i(Xmm& a, Xmm const& b, u32 csr) {                               \
        __m128 va, vb;                                                                                 \
        std::memcpy(&va, &a, 16);                                                                      \
        std::memcpy(&vb, &b, 16);                                                                      \
        u32 saved, out;                                                                                \
        asm volatile("stmxcsr %[saved]\n\tldmxcsr %[csr]\n\t" insn " %[imm], %[b], %[a]\n\t"           \
                     "stmxcsr %[out]\n\tldmxcsr %[saved]"                                              \
                     : [a] "+x"(va), [saved] "=m"(saved), [out] "=m"(out)                              \
                     : [b] "x"(vb), [csr] "m"(csr), [imm] "i"(I));                                     \
        std::memcpy(&a, &va, 16);                                                                      \
        return out;                                                                                    \
    }                                                                                                  \
    template <std::size_t... I> constexpr std::array<HostOp, sizeof...(I)> name##_make(std::index_sequence<I...>) { \
        return {name##_i<I>...};                                                                       \
    }                                                                                                  \
    constexpr auto name = name##_make(std::make_index_sequence<count>{});

#define HOST4(op) HOST(op##ss, #op "ss") HOST(op##sd, #op "sd") HOST(op##ps, #op "ps") HOST(op##pd, #op "pd")
HOST4(add)
HOST4(sub)
HOST4(mul)
HOST4(div)
HOST4(min)
HOST4(max)
HOST4(sqrt)
HOST(rcpss, "rcpss")
HOST(rcpps, "rcpps")
HOST(rsqrtss, "rsqrtss")
HOST(rsqrtps, "rsqrtps")
HOST(addsubps, "addsubps")
HOST(addsubpd, "addsubpd")
HOST(haddps, "haddps")
HOST(haddpd, "haddpd")
HOST(hsubps, "hsubps")
HOST(hsubpd, "hsubpd")
HOST(cvtss2sd, "cvtss2sd")
HOST(cvtsd2ss, "cvtsd2ss")
HOST(cvtps2pd, "cvtps2pd")
HOST(cvtpd2ps, "cvtpd2ps")
HOST(cvtdq2ps, "cvtdq2ps")
HOST(cvtps2dq, "cvtps2dq")
HOST(cvttps2dq, "cvttps2dq")
HOST(cvtdq2pd, "cvtdq2pd")
HOST(cvtpd2dq, "cvtpd2dq")
HOST(cvttpd2dq, "cvttpd2dq")
// Legacy-SSE compares use imm8[2:0] only; rounding uses imm8[3:0].
HOSTI(cmpss, "cmpss", 8)
HOSTI(cmpsd, "cmpsd", 8)
HOSTI(cmpps, "cmpps", 8)
HOSTI(cmppd, "cmppd", 8)
HOSTI(roundss, "roundss", 16)
HOSTI(roundsd, "roundsd", 16)
HOSTI(roundps, "roundps", 16)
HOSTI(roundpd, "roundpd", 16)
HOSTI(dpps, "dpps", 256)
HOSTI(dppd, "dppd", 256)

#undef HOST4
#undef HOSTI
#undef HOST

Step xm_fault(Ctx& c) {
    if (c.s.cr4 & cr4::osxmmexcpt) return fault(vec::xm, "#XM: unmasked SIMD floating-point exception");
    return fault(vec::ud, "#UD: unmasked SIMD floating-point exception with CR4.OSXMMEXCPT clear");
}

// Posts the flags the operation raised (sec. 11.5.1/11.5.2): with an unmasked exception the
// destination is not written, and an unmasked pre-computation exception (IE, DE, ZE) stops
// the operation before the post-computation ones (OE, UE, PE) are looked for in any lane.
Step post(Ctx& c, u32 flags) {
    flags &= mx::flags;
    u32 const unmasked = flags & ~(c.s.mxcsr >> 7) & mx::flags;
    if (unmasked) {
        if (unmasked & mx::pre) flags &= mx::pre;
        c.s.mxcsr |= flags;
        return xm_fault(c);
    }
    c.s.mxcsr |= flags;
    return {};
}

// Masked underflow is signalled only for a tiny and inexact result; unmasked, for any tiny
// result (sec. 11.5.2.4). The masked host run misses the exact tiny (denormal) results.
template <class T> bool any_denormal(Xmm const& r, unsigned n) {
    for (unsigned i = 0; i < n; ++i) {
        T v;
        std::memcpy(&v, reinterpret_cast<char const*>(&r) + i * sizeof(T), sizeof(T));
        constexpr unsigned mant = sizeof(T) == 4 ? 23 : 52;
        T const exp = static_cast<T>((T{1} << (sizeof(T) * 8 - 1 - mant)) - 1) << mant;
        if ((v & exp) == 0 && (v & ((T{1} << mant) - 1)) != 0) return true;
    }
    return false;
}

// What a result lane can underflow to: f32 or f64 lanes, and how many the operation writes.
struct Tiny {
    unsigned width = 0, count = 0;
};

Step run(Ctx& c, HostOp f, unsigned size, Tiny tiny) {
    auto src = c.rm_xmm(size, size == 16 ? 16 : 1);
    if (!src) return std::unexpected(src.error());
    Xmm r = c.s.xmm[c.d.reg()];
    u32 flags = f(r, *src, host_csr(c.s.mxcsr));
    if (!(c.s.mxcsr & mx::um) && tiny.width &&
        (tiny.width == 4 ? any_denormal<u32>(r, tiny.count) : any_denormal<u64>(r, tiny.count)))
        flags |= mx::ue;
    if (auto p = post(c, flags); !p) return p;
    c.s.xmm[c.d.reg()] = r;
    return {};
}

template <HostOp F, unsigned Size, unsigned W = 0, unsigned N = 0> Step op(Ctx& c) { return run(c, F, Size, {W, N}); }

template <auto const& Table, unsigned Size, unsigned W = 0, unsigned N = 0> Step opi(Ctx& c) {
    return run(c, Table[c.d.imm & (Table.size() - 1)], Size, {W, N});
}

// comiss/comisd/ucomiss/ucomisd: ZF/PF/CF from the host's compare, OF/SF/AF cleared.
#define HOSTCMP(name, insn)                                                                     \
    u32 name(Xmm const& a, Xmm const& b, u32 csr, u64& rf) {                                    \
        __m128 va, vb;                                                                          \
        std::memcpy(&va, &a, 16);                                                               \
        std::memcpy(&vb, &b, 16);                                                               \
        u32 saved, out;                                                                         \
        bool z, p, cy;                                                                          \
        asm volatile("stmxcsr %[saved]\n\tldmxcsr %[csr]\n\t" insn " %[b], %[a]\n\t"            \
                     "stmxcsr %[out]\n\tldmxcsr %[saved]"                                       \
                     : [saved] "=m"(saved), [out] "=m"(out), "=@ccz"(z), "=@ccp"(p), "=@ccc"(cy) \
                     : [a] "x"(va), [b] "x"(vb), [csr] "m"(csr));                               \
        rf = (z ? fl::zf : 0) | (p ? fl::pf : 0) | (cy ? fl::cf : 0);                           \
        return out;                                                                             \
    }
HOSTCMP(host_comiss, "comiss")
HOSTCMP(host_comisd, "comisd")
HOSTCMP(host_ucomiss, "ucomiss")
HOSTCMP(host_ucomisd, "ucomisd")
#undef HOSTCMP

template <u32 (*F)(Xmm const&, Xmm const&, u32, u64&), unsigned Size> Step comis(Ctx& c) {
    auto src = c.rm_xmm(Size);
    if (!src) return std::unexpected(src.error());
    u64 f = 0;
    u32 const flags = F(c.s.xmm[c.d.reg()], *src, host_csr(c.s.mxcsr), f);
    if (auto p = post(c, flags); !p) return p;
    c.s.rflags = (c.s.rflags & ~fl::arith) | f;
    return {};
}

// cvtsi2ss/cvtsi2sd xmm, r/m32/64: the low lane replaced, the rest of xmm kept.
template <bool Dbl> Step cvtsi2f(Ctx& c) {
    unsigned const size = c.d.rex_w() ? 8 : 4;
    auto v = c.rm_get(size);
    if (!v) return std::unexpected(v.error());
    __m128 x;
    std::memcpy(&x, &c.s.xmm[c.d.reg()], 16);
    u32 const csr = host_csr(c.s.mxcsr);
    u32 saved, out;
    u64 const q = *v;
    u32 const l = static_cast<u32>(*v);
    if (Dbl && size == 8)
        asm volatile("stmxcsr %[s]\n\tldmxcsr %[c]\n\tcvtsi2sdq %[v], %[x]\n\tstmxcsr %[o]\n\tldmxcsr %[s]"
                     : [x] "+x"(x), [s] "=m"(saved), [o] "=m"(out) : [v] "r"(q), [c] "m"(csr));
    else if (Dbl)
        asm volatile("stmxcsr %[s]\n\tldmxcsr %[c]\n\tcvtsi2sdl %[v], %[x]\n\tstmxcsr %[o]\n\tldmxcsr %[s]"
                     : [x] "+x"(x), [s] "=m"(saved), [o] "=m"(out) : [v] "r"(l), [c] "m"(csr));
    else if (size == 8)
        asm volatile("stmxcsr %[s]\n\tldmxcsr %[c]\n\tcvtsi2ssq %[v], %[x]\n\tstmxcsr %[o]\n\tldmxcsr %[s]"
                     : [x] "+x"(x), [s] "=m"(saved), [o] "=m"(out) : [v] "r"(q), [c] "m"(csr));
    else
        asm volatile("stmxcsr %[s]\n\tldmxcsr %[c]\n\tcvtsi2ssl %[v], %[x]\n\tstmxcsr %[o]\n\tldmxcsr %[s]"
                     : [x] "+x"(x), [s] "=m"(saved), [o] "=m"(out) : [v] "r"(l), [c] "m"(csr));
    if (auto p = post(c, out); !p) return p;
    std::memcpy(&c.s.xmm[c.d.reg()], &x, 16);
    return {};
}

// cvt(t)ss2si / cvt(t)sd2si r32/64, xmm/m32|m64: out of range or NaN gives the integer
// indefinite (IE), as the host produces it.
#define HOSTCVT(name, insn, T)                                                                    \
    u32 name(Xmm const& a, u32 csr, u64& r) {                                                    \
        __m128 va;                                                                                \
        std::memcpy(&va, &a, 16);                                                                 \
        u32 saved, out;                                                                           \
        T v;                                                                                      \
        asm volatile("stmxcsr %[s]\n\tldmxcsr %[c]\n\t" insn " %[a], %[v]\n\tstmxcsr %[o]\n\tldmxcsr %[s]" \
                     : [v] "=r"(v), [s] "=m"(saved), [o] "=m"(out) : [a] "x"(va), [c] "m"(csr));  \
        r = v;                                                                                    \
        return out;                                                                               \
    }
HOSTCVT(cvtss2si32, "cvtss2si", u32)
HOSTCVT(cvtss2si64, "cvtss2si", u64)
HOSTCVT(cvttss2si32, "cvttss2si", u32)
HOSTCVT(cvttss2si64, "cvttss2si", u64)
HOSTCVT(cvtsd2si32, "cvtsd2si", u32)
HOSTCVT(cvtsd2si64, "cvtsd2si", u64)
HOSTCVT(cvttsd2si32, "cvttsd2si", u32)
HOSTCVT(cvttsd2si64, "cvttsd2si", u64)
#undef HOSTCVT

using CvtOp = u32 (*)(Xmm const&, u32, u64&);
template <CvtOp F32, CvtOp F64, unsigned Size> Step cvt2si(Ctx& c) {
    auto src = c.rm_xmm(Size);
    if (!src) return std::unexpected(src.error());
    u64 v = 0;
    u32 const flags = (c.d.rex_w() ? F64 : F32)(*src, host_csr(c.s.mxcsr), v);
    if (auto p = post(c, flags); !p) return p;
    c.set(c.d.reg(), c.d.rex_w() ? 8 : 4, v);
    return {};
}

using enum Pfx;
constexpr auto sse = Class::sse;
constexpr auto m3a = Map::m0f3a;

#define R(n, o, p, f) {.name = n, .ops = "VW", .opcode = o, .pfx = p, .cls = sse, .in_place = true, .fn = f}
#define RI(n, o, p, f) {.name = n, .ops = "VWI", .opcode = o, .pfx = p, .cls = sse, .in_place = true, .fn = f}
#define R3A(n, o, f) {.name = n, .ops = "VWI", .map = m3a, .opcode = o, .pfx = p66, .cls = sse, .in_place = true, .fn = f}
// The four forms of one arithmetic opcode: ps (none), pd (66), ss (f3), sd (f2).
#define ARITH(n, o, tiny)                                                                       \
    R(#n "ps", o, none, (op<n##ps, 16, tiny ? 4 : 0, 4>)), R(#n "pd", o, p66, (op<n##pd, 16, tiny ? 8 : 0, 2>)), \
    R(#n "ss", o, pf3, (op<n##ss, 4, tiny ? 4 : 0, 1>)), R(#n "sd", o, pf2, (op<n##sd, 8, tiny ? 8 : 0, 1>))

constexpr Row rows[] = {
    ARITH(add, 0x58, true), ARITH(sub, 0x5c, true), ARITH(mul, 0x59, true), ARITH(div, 0x5e, true),
    ARITH(min, 0x5d, false), ARITH(max, 0x5f, false), ARITH(sqrt, 0x51, false),
    R("rcpps", 0x53, none, (op<rcpps, 16>)), R("rcpss", 0x53, pf3, (op<rcpss, 4>)),
    R("rsqrtps", 0x52, none, (op<rsqrtps, 16>)), R("rsqrtss", 0x52, pf3, (op<rsqrtss, 4>)),
    RI("cmpps", 0xc2, none, (opi<cmpps, 16>)), RI("cmppd", 0xc2, p66, (opi<cmppd, 16>)),
    RI("cmpss", 0xc2, pf3, (opi<cmpss, 4>)), RI("cmpsd", 0xc2, pf2, (opi<cmpsd, 8>)),
    R("ucomiss", 0x2e, none, (comis<host_ucomiss, 4>)), R("ucomisd", 0x2e, p66, (comis<host_ucomisd, 8>)),
    R("comiss", 0x2f, none, (comis<host_comiss, 4>)), R("comisd", 0x2f, p66, (comis<host_comisd, 8>)),

    R("cvtps2pd", 0x5a, none, (op<cvtps2pd, 8>)), R("cvtpd2ps", 0x5a, p66, (op<cvtpd2ps, 16, 4, 2>)),
    R("cvtss2sd", 0x5a, pf3, (op<cvtss2sd, 4>)), R("cvtsd2ss", 0x5a, pf2, (op<cvtsd2ss, 8, 4, 1>)),
    R("cvtdq2ps", 0x5b, none, (op<cvtdq2ps, 16>)), R("cvtps2dq", 0x5b, p66, (op<cvtps2dq, 16>)),
    R("cvttps2dq", 0x5b, pf3, (op<cvttps2dq, 16>)), R("cvtdq2pd", 0xe6, pf3, (op<cvtdq2pd, 8>)),
    R("cvtpd2dq", 0xe6, pf2, (op<cvtpd2dq, 16>)), R("cvttpd2dq", 0xe6, p66, (op<cvttpd2dq, 16>)),
    {.name = "cvtsi2ss", .ops = "VZ", .opcode = 0x2a, .pfx = pf3, .cls = sse, .in_place = true, .fn = cvtsi2f<false>},
    {.name = "cvtsi2sd", .ops = "VZ", .opcode = 0x2a, .pfx = pf2, .cls = sse, .in_place = true, .fn = cvtsi2f<true>},
    {.name = "cvttss2si", .ops = "YW", .opcode = 0x2c, .pfx = pf3, .cls = sse, .in_place = true, .fn = cvt2si<cvttss2si32, cvttss2si64, 4>},
    {.name = "cvttsd2si", .ops = "YW", .opcode = 0x2c, .pfx = pf2, .cls = sse, .in_place = true, .fn = cvt2si<cvttsd2si32, cvttsd2si64, 8>},
    {.name = "cvtss2si", .ops = "YW", .opcode = 0x2d, .pfx = pf3, .cls = sse, .in_place = true, .fn = cvt2si<cvtss2si32, cvtss2si64, 4>},
    {.name = "cvtsd2si", .ops = "YW", .opcode = 0x2d, .pfx = pf2, .cls = sse, .in_place = true, .fn = cvt2si<cvtsd2si32, cvtsd2si64, 8>},

    // SSE3.
    R("addsubps", 0xd0, pf2, (op<addsubps, 16, 4, 4>)), R("addsubpd", 0xd0, p66, (op<addsubpd, 16, 8, 2>)),
    R("haddps", 0x7c, pf2, (op<haddps, 16, 4, 4>)), R("haddpd", 0x7c, p66, (op<haddpd, 16, 8, 2>)),
    R("hsubps", 0x7d, pf2, (op<hsubps, 16, 4, 4>)), R("hsubpd", 0x7d, p66, (op<hsubpd, 16, 8, 2>)),

    // SSE4.1.
    R3A("roundps", 0x08, (opi<roundps, 16>)), R3A("roundpd", 0x09, (opi<roundpd, 16>)),
    R3A("roundss", 0x0a, (opi<roundss, 4>)), R3A("roundsd", 0x0b, (opi<roundsd, 8>)),
    R3A("dpps", 0x40, (opi<dpps, 16>)), R3A("dppd", 0x41, (opi<dppd, 16>)),
};

#undef ARITH
#undef R3A
#undef RI
#undef R

} // namespace

std::span<Row const> sse_fp_rows() { return rows; }

} // namespace kxen::soft
