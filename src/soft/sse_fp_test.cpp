// SSE floating point: values and MXCSR flags as the SDM defines them (IEEE 754 results under
// RC, DAZ/FTZ, masked responses), and #XM/#UD for unmasked exceptions.
#include <bit>
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;
using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

constexpr std::uint64_t F_cf = 1, F_pf = 4, F_zf = 0x40, F_arith = 0x8d5;

constexpr std::uint32_t IE = 1, DE = 2, ZE = 4, OE = 8, UE = 16, PE = 32;

std::uint64_t f(float v) { return std::bit_cast<std::uint32_t>(v); }
std::uint64_t d(double v) { return std::bit_cast<std::uint64_t>(v); }

struct Out {
    Xmm x;
    std::uint32_t flags;
    Result r;
};

// Runs `b` + ModRM xmm1, xmm2 (+ imm8) with the given MXCSR; flags are what it added.
Out fp(Bytes const& b, Xmm a, Xmm src, std::uint32_t mxcsr = 0x1f80, int imm = -1) {
    MemEnv env;
    CpuState s = cpu64();
    s.mxcsr = mxcsr;
    s.xmm[1] = a;
    s.xmm[2] = src;
    Bytes code = b;
    code.push_back(0xca);
    if (imm >= 0) code.push_back(static_cast<std::uint8_t>(imm));
    Result r = run(code, s, env);
    return {s.xmm[1], s.mxcsr & 0x3f, r};
}

TEST(SseFp, ScalarArithmeticKeepsUpperLanes) {
    auto o = fp({0xf3, 0x0f, 0x58}, {0xaaaaaaaa00000000 | f(1.5f), 7}, {f(2.25f), 9});   // addss
    EXPECT_EQ(o.x, (Xmm{0xaaaaaaaa00000000 | f(3.75f), 7}));
    EXPECT_EQ(o.flags, 0u);
    o = fp({0xf2, 0x0f, 0x58}, {d(0.1), 5}, {d(0.2), 6});   // addsd: 0.30000000000000004, inexact
    EXPECT_EQ(o.x, (Xmm{0x3fd3333333333334, 5}));
    EXPECT_EQ(o.flags, unsigned(PE));
    o = fp({0x66, 0x0f, 0x59}, {d(3.0), d(-2.0)}, {d(0.5), d(4.0)});   // mulpd
    EXPECT_EQ(o.x, (Xmm{d(1.5), d(-8.0)}));
    o = fp({0x0f, 0x5c}, {f(1.0f) | f(2.0f) << 32, f(8.0f)}, {f(0.5f) | f(4.0f) << 32, f(8.0f)});   // subps
    EXPECT_EQ(o.x, (Xmm{f(0.5f) | f(-2.0f) << 32, f(0.0f)}));
    o = fp({0xf2, 0x0f, 0x51}, {0, 1}, {d(2.25), 3});   // sqrtsd
    EXPECT_EQ(o.x, (Xmm{d(1.5), 1}));
}

TEST(SseFp, RoundingControl) {
    // 1/3 in single: nearest 0x3eaaaaab, toward zero / down 0x3eaaaaaa.
    EXPECT_EQ(fp({0xf3, 0x0f, 0x5e}, {f(1.0f), 0}, {f(3.0f), 0}).x.lo, 0x3eaaaaabu);
    EXPECT_EQ(fp({0xf3, 0x0f, 0x5e}, {f(1.0f), 0}, {f(3.0f), 0}, 0x7f80).x.lo, 0x3eaaaaaau);   // RZ
    EXPECT_EQ(fp({0xf3, 0x0f, 0x5e}, {f(1.0f), 0}, {f(3.0f), 0}, 0x3f80).x.lo, 0x3eaaaaaau);   // RD
    EXPECT_EQ(fp({0xf3, 0x0f, 0x5e}, {f(-1.0f), 0}, {f(3.0f), 0}, 0x3f80).x.lo, 0xbeaaaaabu);  // RD, negative
}

TEST(SseFp, MaskedResponses) {
    auto o = fp({0xf3, 0x0f, 0x5e}, {f(1.0f), 0}, {f(0.0f), 0});   // divss by zero
    EXPECT_EQ(o.x.lo, f(std::numeric_limits<float>::infinity()));
    EXPECT_EQ(o.flags, unsigned(ZE));
    o = fp({0xf2, 0x0f, 0x51}, {0, 0}, {d(-1.0), 0});   // sqrtsd of -1: the default QNaN
    EXPECT_EQ(o.x.lo, 0xfff8000000000000u);
    EXPECT_EQ(o.flags, unsigned(IE));
    o = fp({0xf2, 0x0f, 0x59}, {d(1e300), 0}, {d(1e300), 0});   // overflow: inf, OE|PE
    EXPECT_EQ(o.x.lo, d(std::numeric_limits<double>::infinity()));
    EXPECT_EQ(o.flags, unsigned(OE | PE));
    o = fp({0xf2, 0x0f, 0x59}, {d(1e300), 0}, {d(1e300), 0}, 0x7f80);   // RZ overflow: the largest finite
    EXPECT_EQ(o.x.lo, d(std::numeric_limits<double>::max()));
    // minss/maxss return the second operand when either is a NaN (no IE for a QNaN).
    o = fp({0xf3, 0x0f, 0x5d}, {0x7fc00000, 0}, {f(2.0f), 0});
    EXPECT_EQ(o.x.lo, f(2.0f));
    EXPECT_EQ(o.flags, unsigned(IE));   // min/max signal IE on any NaN
    o = fp({0xf3, 0x0f, 0x5f}, {f(-0.0f), 0}, {f(0.0f), 0});   // maxss(-0, +0) = the source
    EXPECT_EQ(o.x.lo, f(0.0f));
    // An SNaN operand is quieted, IE.
    o = fp({0xf3, 0x0f, 0x58}, {0x7f800001, 0}, {f(1.0f), 0});
    EXPECT_EQ(o.x.lo, 0x7fc00001u);
    EXPECT_EQ(o.flags, unsigned(IE));
}

TEST(SseFp, DenormalsDazFtz) {
    std::uint64_t const tiny = 0x00000001;   // the smallest single denormal
    auto o = fp({0xf3, 0x0f, 0x58}, {tiny, 0}, {f(0.0f), 0});
    EXPECT_EQ(o.x.lo, tiny);
    EXPECT_EQ(o.flags, unsigned(DE));
    o = fp({0xf3, 0x0f, 0x58}, {tiny, 0}, {f(0.0f), 0}, 0x1f80 | 0x40);   // DAZ: +0, no DE
    EXPECT_EQ(o.x.lo, 0u);
    EXPECT_EQ(o.flags, 0u);
    // 2^-100 * 2^-40 = 2^-140: a denormal, exact (no UE while masked); FTZ makes it +0, UE|PE.
    o = fp({0xf3, 0x0f, 0x59}, {f(0x1p-100f), 0}, {f(0x1p-40f), 0});
    EXPECT_EQ(o.x.lo, f(0x1p-140f));
    EXPECT_EQ(o.flags, 0u);
    o = fp({0xf3, 0x0f, 0x59}, {f(0x1p-100f), 0}, {f(0x1p-40f), 0}, 0x9f80);
    EXPECT_EQ(o.x.lo, 0u);
    EXPECT_EQ(o.flags, unsigned(UE | PE));
    // 2^-100 * (2^-40 + 2^-63): tiny and inexact, UE|PE when masked.
    o = fp({0xf3, 0x0f, 0x59}, {f(0x1p-100f), 0}, {f(0x1p-40f + 0x1p-63f), 0});
    EXPECT_EQ(o.flags, unsigned(UE | PE));
}

TEST(SseFp, UnmaskedExceptionsFault) {
    MemEnv env;
    CpuState s = cpu64();
    s.mxcsr = 0x1f80 & ~(1u << 9);   // ZE unmasked
    s.xmm[1] = {f(1.0f), 0};
    s.xmm[2] = {f(0.0f), 0};
    Result r = run({0xf3, 0x0f, 0x5e, 0xca}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 19);   // #XM
    EXPECT_EQ(s.rip, 0x10000u);
    EXPECT_EQ(s.xmm[1].lo, f(1.0f));   // destination unchanged
    EXPECT_EQ(s.mxcsr & 0x3f, unsigned(ZE));   // the flag is set
    s.cr4 &= ~(1ull << 10);   // CR4.OSXMMEXCPT clear: #UD instead
    s.mxcsr = 0x1f80 & ~(1u << 9);
    EXPECT_EQ(run({0xf3, 0x0f, 0x5e, 0xca}, s, env).fault.vector, 6);
    // Masked ZE, unmasked PE: 1/3 is inexact, so PE faults.
    auto o = fp({0xf3, 0x0f, 0x5e}, {f(1.0f), 0}, {f(3.0f), 0}, 0x1f80 & ~(1u << 12));
    EXPECT_EQ(o.r.fault.vector, 19);
    EXPECT_EQ(o.x.lo, f(1.0f));
    EXPECT_EQ(o.flags, unsigned(PE));
    // Unmasked underflow is signalled for an exact tiny result too (SDM Vol. 1 11.5.2.4).
    o = fp({0xf3, 0x0f, 0x59}, {f(0x1p-100f), 0}, {f(0x1p-40f), 0}, 0x1f80 & ~(1u << 11));
    EXPECT_EQ(o.r.fault.vector, 19);
    EXPECT_EQ(o.flags, unsigned(UE));
    // A pre-computation exception (IE, unmasked) keeps the post-computation flags out: lane 0
    // is 0/0, lane 1 is inexact.
    o = fp({0x0f, 0x5e}, {f(0.0f) | f(1.0f) << 32, 0}, {f(0.0f) | f(3.0f) << 32, f(1.0f) << 32 | f(1.0f)},
           0x1f80 & ~0x80u);
    EXPECT_EQ(o.r.fault.vector, 19);
    EXPECT_EQ(o.flags, unsigned(IE));
}

TEST(SseFp, Compares) {
    auto const nan = 0x7fc00000ull;
    // cmpps: lt per lane, all-ones or zero.
    auto o = fp({0x0f, 0xc2}, {f(1.0f) | f(5.0f) << 32, 0}, {f(2.0f) | f(5.0f) << 32, 0}, 0x1f80, 1);
    EXPECT_EQ(o.x, (Xmm{0x00000000ffffffff, 0}));
    // cmpeqss with a QNaN: false, no IE; cmpltss (signalling): false, IE; cmpunordss: true.
    o = fp({0xf3, 0x0f, 0xc2}, {nan, 9}, {f(1.0f), 0}, 0x1f80, 0);
    EXPECT_EQ(o.x, (Xmm{0, 9}));
    EXPECT_EQ(o.flags, 0u);
    o = fp({0xf3, 0x0f, 0xc2}, {nan, 9}, {f(1.0f), 0}, 0x1f80, 1);
    EXPECT_EQ(o.flags, unsigned(IE));
    o = fp({0xf3, 0x0f, 0xc2}, {nan, 9}, {f(1.0f), 0}, 0x1f80, 3);
    EXPECT_EQ(o.x, (Xmm{0xffffffff, 9}));
    o = fp({0xf2, 0x0f, 0xc2}, {d(1.0), 9}, {d(1.0), 0}, 0x1f80, 6);   // cmpnlesd: !(1 <= 1)
    EXPECT_EQ(o.x, (Xmm{0, 9}));
    o = fp({0x66, 0x0f, 0xc2}, {d(1.0), d(2.0)}, {d(1.0), d(1.0)}, 0x1f80, 4);   // cmpneqpd
    EXPECT_EQ(o.x, (Xmm{0, ~0ull}));
}

TEST(SseFp, ComisFlags) {
    MemEnv env;
    auto flags = [&](Bytes b, Xmm a, Xmm src, std::uint32_t* mx = nullptr) {
        CpuState s = cpu64();
        s.rflags = 0x2 | F_arith;
        s.xmm[1] = a;
        s.xmm[2] = src;
        b.push_back(0xca);
        run_ok(b, s, env);
        if (mx) *mx = s.mxcsr & 0x3f;
        return s.rflags & F_arith;
    };
    EXPECT_EQ(flags({0x66, 0x0f, 0x2f}, {d(1.0), 0}, {d(2.0), 0}), F_cf);    // comisd less
    EXPECT_EQ(flags({0x66, 0x0f, 0x2f}, {d(2.0), 0}, {d(2.0), 0}), F_zf);    // equal
    EXPECT_EQ(flags({0x66, 0x0f, 0x2f}, {d(3.0), 0}, {d(2.0), 0}), 0u);        // greater
    std::uint32_t mx = 0;
    EXPECT_EQ(flags({0x0f, 0x2e}, {0x7fc00000, 0}, {f(2.0f), 0}, &mx), F_zf | F_pf | F_cf);   // ucomiss unordered
    EXPECT_EQ(mx, 0u);   // a QNaN is quiet for ucomiss
    EXPECT_EQ(flags({0x0f, 0x2f}, {0x7fc00000, 0}, {f(2.0f), 0}, &mx), F_zf | F_pf | F_cf);
    EXPECT_EQ(mx, unsigned(IE));   // and invalid for comiss
}

TEST(SseFp, IntegerConversions) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[0] = 16777217;   // 2^24 + 1: not a single
    s.xmm[1] = {0x1111111122222222, 3};
    run_ok({0xf3, 0x0f, 0x2a, 0xc8}, s, env);   // cvtsi2ss xmm1, eax
    EXPECT_EQ(s.xmm[1], (Xmm{0x11111111'00000000 | f(16777216.0f), 3}));
    EXPECT_EQ(s.mxcsr & 0x3f, unsigned(PE));
    s.gpr[0] = ~0ull;
    run_ok({0xf2, 0x48, 0x0f, 0x2a, 0xc8}, s, env);   // cvtsi2sd xmm1, rax (-1)
    EXPECT_EQ(s.xmm[1].lo, d(-1.0));
    s.xmm[2] = {d(2.5), 0};
    run_ok({0xf2, 0x0f, 0x2d, 0xc2}, s, env);   // cvtsd2si eax, xmm2: nearest even
    EXPECT_EQ(s.gpr[0], 2u);
    s.xmm[2] = {d(-2.9), 0};
    run_ok({0xf2, 0x48, 0x0f, 0x2c, 0xc2}, s, env);   // cvttsd2si rax: truncates
    EXPECT_EQ(s.gpr[0], ~1ull);
    s.mxcsr = 0x1f80;
    s.xmm[2] = {d(1e10), 0};
    run_ok({0xf2, 0x0f, 0x2c, 0xc2}, s, env);   // out of range: the integer indefinite, IE
    EXPECT_EQ(s.gpr[0], 0x80000000u);
    EXPECT_EQ(s.mxcsr & 0x3f, unsigned(IE));
    s.xmm[2] = {f(-3.5f), 0};
    s.mxcsr = 0x3f80;   // RD
    run_ok({0xf3, 0x48, 0x0f, 0x2d, 0xc2}, s, env);   // cvtss2si rax
    EXPECT_EQ(s.gpr[0], static_cast<std::uint64_t>(-4));
}

TEST(SseFp, PackedAndPrecisionConversions) {
    auto o = fp({0xf2, 0x0f, 0x5a}, {0, 4}, {d(1e300), 0});   // cvtsd2ss overflow
    EXPECT_EQ(o.x, (Xmm{f(std::numeric_limits<float>::infinity()), 4}));
    EXPECT_EQ(o.flags, unsigned(OE | PE));
    o = fp({0xf3, 0x0f, 0x5a}, {0, 4}, {f(0.1f), 0});   // cvtss2sd: exact
    EXPECT_EQ(o.x, (Xmm{d(static_cast<double>(0.1f)), 4}));
    EXPECT_EQ(o.flags, 0u);
    o = fp({0x0f, 0x5b}, {}, {0xffffffff00000007, 0});   // cvtdq2ps
    EXPECT_EQ(o.x, (Xmm{f(7.0f) | f(-1.0f) << 32, 0}));
    o = fp({0xf3, 0x0f, 0x5b}, {}, {f(-1.5f) | f(3e9f) << 32, 0});   // cvttps2dq: 3e9 out of range
    EXPECT_EQ(o.x, (Xmm{0x80000000ffffffff, 0}));
    EXPECT_EQ(o.flags, unsigned(IE | PE));   // lane 0 inexact, lane 1 invalid
    o = fp({0xf3, 0x0f, 0xe6}, {}, {0x00000002ffffffff, 99});   // cvtdq2pd
    EXPECT_EQ(o.x, (Xmm{d(-1.0), d(2.0)}));
    o = fp({0x66, 0x0f, 0x5a}, {}, {d(1.0), d(0.5)});   // cvtpd2ps: upper half zeroed
    EXPECT_EQ(o.x, (Xmm{f(1.0f) | f(0.5f) << 32, 0}));
    o = fp({0xf2, 0x0f, 0xe6}, {}, {d(2.5), d(3.5)});   // cvtpd2dq: nearest even
    EXPECT_EQ(o.x, (Xmm{0x0000000400000002, 0}));
}

TEST(SseFp, Sse3AndRound) {
    auto o = fp({0xf2, 0x0f, 0x7c}, {f(1.0f) | f(2.0f) << 32, f(3.0f) | f(4.0f) << 32},
                {f(5.0f) | f(6.0f) << 32, f(7.0f) | f(8.0f) << 32});   // haddps
    EXPECT_EQ(o.x, (Xmm{f(3.0f) | f(7.0f) << 32, f(11.0f) | f(15.0f) << 32}));
    o = fp({0x66, 0x0f, 0xd0}, {d(1.0), d(1.0)}, {d(0.25), d(0.25)});   // addsubpd
    EXPECT_EQ(o.x, (Xmm{d(0.75), d(1.25)}));
    o = fp({0x66, 0x0f, 0x3a, 0x0b}, {0, 7}, {d(-1.5), 0}, 0x1f80, 1);   // roundsd floor
    EXPECT_EQ(o.x, (Xmm{d(-2.0), 7}));
    EXPECT_EQ(o.flags, unsigned(PE));
    o = fp({0x66, 0x0f, 0x3a, 0x0b}, {0, 7}, {d(-1.5), 0}, 0x1f80, 0x8 | 3);   // trunc, PE suppressed
    EXPECT_EQ(o.x, (Xmm{d(-1.0), 7}));
    EXPECT_EQ(o.flags, 0u);
    o = fp({0x66, 0x0f, 0x3a, 0x08}, {}, {f(2.5f) | f(-0.5f) << 32, 0}, 0x3f80, 4);   // roundps by MXCSR.RC (down)
    EXPECT_EQ(o.x, (Xmm{f(2.0f) | f(-1.0f) << 32, 0}));
    o = fp({0x66, 0x0f, 0x3a, 0x40}, {f(1.0f) | f(2.0f) << 32, f(3.0f) | f(4.0f) << 32},
           {f(1.0f) | f(1.0f) << 32, f(1.0f) | f(1.0f) << 32}, 0x1f80, 0x71);   // dpps: lanes 0-2 summed into lane 0
    EXPECT_EQ(o.x, (Xmm{f(6.0f), 0}));
}

} // namespace
} // namespace kxen::soft
