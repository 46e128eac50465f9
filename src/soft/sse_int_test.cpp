// SSE2/SSSE3/SSE4.1 integer instructions and float data movement, values worked out from
// the SDM's pseudocode.
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;
using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

constexpr std::uint64_t F_cf = 1, F_pf = 4, F_zf = 0x40, F_arith = 0x8d5;

// Runs `b` (whose ModRM is xmm1, xmm2) with xmm1 = a, xmm2 = src; returns xmm1.
Xmm bin(Bytes const& b, Xmm a, Xmm src, int imm = -1) {
    MemEnv env;
    CpuState s = cpu64();
    s.xmm[1] = a;
    s.xmm[2] = src;
    Bytes code = b;
    code.push_back(0xca);
    if (imm >= 0) code.push_back(static_cast<std::uint8_t>(imm));
    run_ok(code, s, env);
    return s.xmm[1];
}

TEST(SseInt, AddSubWrapAndSaturate) {
    EXPECT_EQ(bin({0x66, 0x0f, 0xfc}, {0x0102030405060708, 0x7f}, {0x0101010101010101, 0x81}),
              (Xmm{0x0203040506070809, 0}));                                              // paddb
    EXPECT_EQ(bin({0x66, 0x0f, 0xd4}, {~0ull, 5}, {1, 6}), (Xmm{0, 11}));                  // paddq
    EXPECT_EQ(bin({0x66, 0x0f, 0xfa}, {0, 0}, {1, 0}), (Xmm{0xffffffff, 0}));              // psubd
    // paddsw: 0x7fff+1 saturates to 0x7fff, 0x8000+(-1) to 0x8000.
    EXPECT_EQ(bin({0x66, 0x0f, 0xed}, {0x80007fff, 0}, {0xffff0001, 0}), (Xmm{0x80007fff, 0}));
    EXPECT_EQ(bin({0x66, 0x0f, 0xdc}, {0x10f0, 0}, {0x1020, 0}), (Xmm{0x20ff, 0}));        // paddusb
    EXPECT_EQ(bin({0x66, 0x0f, 0xd8}, {0x3010, 0}, {0x1020, 0}), (Xmm{0x2000, 0}));        // psubusb
    EXPECT_EQ(bin({0x66, 0x0f, 0xe8}, {0x7f80, 0}, {0x8001, 0}), (Xmm{0x7f80, 0}));        // psubsb: 127-(-128), -128-1
}

TEST(SseInt, CompareMinMaxAverage) {
    EXPECT_EQ(bin({0x66, 0x0f, 0x74}, {0x1122, 0}, {0x3322, 0}), (Xmm{0xffffffffffff00ff, ~0ull}));   // pcmpeqb
    // pcmpgtb is signed: 1 > -1, -1 > 1 is false.
    EXPECT_EQ(bin({0x66, 0x0f, 0x64}, {0xff01, 0}, {0x01ff, 0}), (Xmm{0x00ff, 0}));
    EXPECT_EQ(bin({0x66, 0x0f, 0x66}, {0x80000000, 0}, {0x7fffffff, 0}), (Xmm{0, 0}));   // pcmpgtd
    EXPECT_EQ(bin({0x66, 0x0f, 0xda}, {0x80ff, 0}, {0x7f01, 0}), (Xmm{0x7f01, 0}));      // pminub
    EXPECT_EQ(bin({0x66, 0x0f, 0xee}, {0x8000, 0}, {0x7fff, 0}), (Xmm{0x7fff, 0}));      // pmaxsw
    EXPECT_EQ(bin({0x66, 0x0f, 0xe0}, {0xff01, 0}, {0xff02, 0}), (Xmm{0xff02, 0}));      // pavgb rounds up
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x3d}, {0x80000000, 0}, {5, 0}), (Xmm{5, 0}));      // pmaxsd
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x3b}, {0x80000000, 0}, {5, 0}), (Xmm{5, 0}));      // pminud
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x29}, {7, 8}, {7, 9}), (Xmm{~0ull, 0}));            // pcmpeqq
}

TEST(SseInt, Multiplies) {
    EXPECT_EQ(bin({0x66, 0x0f, 0xe5}, {0x8000, 0}, {0x8000, 0}), (Xmm{0x4000, 0}));      // pmulhw
    EXPECT_EQ(bin({0x66, 0x0f, 0xe4}, {0xffff, 0}, {0xffff, 0}), (Xmm{0xfffe, 0}));      // pmulhuw
    EXPECT_EQ(bin({0x66, 0x0f, 0xd5}, {0xffff, 0}, {0xffff, 0}), (Xmm{1, 0}));           // pmullw
    EXPECT_EQ(bin({0x66, 0x0f, 0xf4}, {0x12345678ffffffff, 2}, {0xffffffff, 3}),
              (Xmm{0xfffffffe00000001, 6}));                                           // pmuludq
    EXPECT_EQ(bin({0x66, 0x0f, 0xf5}, {0x80008000, 0}, {0x80008000, 0}), (Xmm{0x80000000, 0}));   // pmaddwd
    EXPECT_EQ(bin({0x66, 0x0f, 0xf6}, {0x00ff, 0x10}, {0xff00, 0x01}), (Xmm{0x1fe, 0xf}));       // psadbw
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x40}, {0x10000, 0}, {0x10000, 0}), (Xmm{0, 0}));           // pmulld
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x28}, {0xffffffff, 0}, {2, 0}), (Xmm{~1ull, 0}));          // pmuldq
    // pmulhrsw: (0x4000 * 0x4000 >> 14) + 1 >> 1 = 0x2000.
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x0b}, {0x4000, 0}, {0x4000, 0}), (Xmm{0x2000, 0}));
}

TEST(SseInt, Shifts) {
    EXPECT_EQ(bin({0x66, 0x0f, 0xf1}, {0x8001, 0}, {1, 0}), (Xmm{0x0002, 0}));           // psllw xmm
    EXPECT_EQ(bin({0x66, 0x0f, 0xf1}, {0x8001, 0}, {16, 0}), (Xmm{0, 0}));               // count >= 16
    EXPECT_EQ(bin({0x66, 0x0f, 0xe1}, {0x8000, 0}, {1ull << 32, 0}), (Xmm{0xffff, 0}));  // psraw: the whole quadword counts
    EXPECT_EQ(bin({0x66, 0x0f, 0xd3}, {0x10, 0x20}, {4, 99}), (Xmm{1, 2}));              // psrlq
    MemEnv env;
    CpuState s = cpu64();
    s.xmm[3] = {0x8000000080000000, 0x0123456789abcdef};
    run_ok({0x66, 0x0f, 0x72, 0xe3, 31}, s, env);   // psrad xmm3, 31
    EXPECT_EQ(s.xmm[3], (Xmm{0xffffffffffffffff, 0xffffffff}));
    s.xmm[3] = {0x0123456789abcdef, 0x1122334455667788};
    run_ok({0x66, 0x0f, 0x73, 0xfb, 3}, s, env);   // pslldq xmm3, 3
    EXPECT_EQ(s.xmm[3], (Xmm{0x6789abcdef000000, 0x4455667788012345}));
    run_ok({0x66, 0x0f, 0x73, 0xdb, 16}, s, env);   // psrldq xmm3, 16
    EXPECT_EQ(s.xmm[3], (Xmm{0, 0}));
    s.xmm[3] = {1, 1};
    run_ok({0x66, 0x0f, 0x73, 0xf3, 63}, s, env);   // psllq xmm3, 63
    EXPECT_EQ(s.xmm[3], (Xmm{1ull << 63, 1ull << 63}));
    EXPECT_EQ(run({0x66, 0x0f, 0x73, 0x33, 1}, s, env).outcome, Outcome::unsupported);   // no memory form
}

TEST(SseInt, UnpackPack) {
    Xmm const a{0x0706050403020100, 0x0f0e0d0c0b0a0908}, b{0x1716151413121110, 0x1f1e1d1c1b1a1918};
    EXPECT_EQ(bin({0x66, 0x0f, 0x60}, a, b), (Xmm{0x1303120211011000, 0x1707160615051404}));   // punpcklbw
    EXPECT_EQ(bin({0x66, 0x0f, 0x6a}, a, b), (Xmm{0x1b1a19180b0a0908, 0x1f1e1d1c0f0e0d0c}));   // punpckhdq
    EXPECT_EQ(bin({0x66, 0x0f, 0x6d}, a, b), (Xmm{a.hi, b.hi}));                             // punpckhqdq
    // packsswb: 0x0100 -> 0x7f, 0xff00 -> 0x80, 0x0005 -> 5, 0xfffb -> 0xfb.
    EXPECT_EQ(bin({0x66, 0x0f, 0x63}, {0xfffb0005ff000100, 0}, {0, 0x7fff}), (Xmm{0xfb05807f, 0x0000007f00000000}));
    // packuswb: negative -> 0, above 255 -> 255.
    EXPECT_EQ(bin({0x66, 0x0f, 0x67}, {0x00800100ffff0001, 0}, {0, 0}), (Xmm{0x80ff0001, 0}));
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x2b}, {0x80000000ffffffff, 0x0001000000001234}, {0, 0}),
              (Xmm{0xffff123400000000, 0}));   // packusdw
}

TEST(SseInt, Shuffles) {
    Xmm const d{0x0000000100000000, 0x0000000300000002};
    EXPECT_EQ(bin({0x66, 0x0f, 0x70}, {}, d, 0x1b), (Xmm{0x0000000200000003, 0x0000000000000001}));   // pshufd reverse
    EXPECT_EQ(bin({0xf2, 0x0f, 0x70}, {}, {0x0003000200010000, 0x55}, 0x00), (Xmm{0, 0x55}));          // pshuflw
    EXPECT_EQ(bin({0xf3, 0x0f, 0x70}, {}, {0x77, 0x0003000200010000}, 0xe4), (Xmm{0x77, 0x0003000200010000}));   // pshufhw identity
    // pshufb: index bytes with bit 7 set give zero.
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x00}, {0x0706050403020100, 0x0f0e0d0c0b0a0908}, {0x800f, 0}),
              (Xmm{0x000f, 0}));
    // palignr 3: bytes 3..18 of src:dst.
    EXPECT_EQ(bin({0x66, 0x0f, 0x3a, 0x0f}, {0x1716151413121110, 0x1f1e1d1c1b1a1918}, {0x0706050403020100, 0x0f0e0d0c0b0a0908}, 3),
              (Xmm{0x0a09080706050403, 0x1211100f0e0d0c0b}));
    EXPECT_EQ(bin({0x0f, 0xc6}, {0x1111111100000000, 0x3333333322222222}, {0x5555555544444444, 0x7777777766666666}, 0x4e),
              (Xmm{0x3333333322222222, 0x5555555544444444}));   // shufps 01 00 11 10
    EXPECT_EQ(bin({0x66, 0x0f, 0xc6}, {1, 2}, {3, 4}, 1), (Xmm{2, 3}));   // shufpd
    EXPECT_EQ(bin({0x0f, 0x14}, {0x1111111100000000, 0}, {0x3333333322222222, 0}),
              (Xmm{0x2222222200000000, 0x3333333311111111}));   // unpcklps
    EXPECT_EQ(bin({0x0f, 0x12}, {1, 2}, {3, 4}), (Xmm{4, 2}));     // movhlps
    EXPECT_EQ(bin({0x0f, 0x16}, {1, 2}, {3, 4}), (Xmm{1, 3}));     // movlhps
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x02}, {0x0000000200000001, 0x0000000400000003}, {0x0000000600000005, 0}),
              (Xmm{0x0000000700000003, 0x000000000000000b}));   // phaddd
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x1c}, {}, {0x807f01ff, 0}), (Xmm{0x807f0101, 0}));   // pabsb
    EXPECT_EQ(bin({0x66, 0x0f, 0x38, 0x08}, {0x05050505, 0}, {0x00ff0180, 0}), (Xmm{0x00fb05fb, 0}));   // psignb
}

TEST(SseInt, GeneralRegisterForms) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[0] = ~0ull;
    s.xmm[2] = {0x8000000000000080, 0x80};
    run_ok({0x66, 0x0f, 0xd7, 0xc2}, s, env);   // pmovmskb eax, xmm2
    EXPECT_EQ(s.gpr[0], 0x181u);
    s.xmm[2] = {0x8000000000000000, 0x8000000000000000};
    run_ok({0x0f, 0x50, 0xc2}, s, env);   // movmskps eax, xmm2
    EXPECT_EQ(s.gpr[0], 0xau);
    run_ok({0x66, 0x0f, 0x50, 0xc2}, s, env);   // movmskpd
    EXPECT_EQ(s.gpr[0], 3u);
    s.gpr[1] = 0xabcd1234;
    run_ok({0x66, 0x0f, 0xc4, 0xd1, 5}, s, env);   // pinsrw xmm2, ecx, 5
    EXPECT_EQ(s.xmm[2], (Xmm{0x8000000000000000, 0x8000000012340000}));
    run_ok({0x66, 0x0f, 0xc5, 0xc2, 5}, s, env);   // pextrw eax, xmm2, 5
    EXPECT_EQ(s.gpr[0], 0x1234u);
    run_ok({0x66, 0x48, 0x0f, 0x3a, 0x16, 0xd0, 1}, s, env);   // pextrq rax, xmm2, 1
    EXPECT_EQ(s.gpr[0], 0x8000000012340000u);
    s.gpr[0] = 0xee00;
    s.gpr[4] = 0x1234;
    run_ok({0x66, 0x0f, 0x3a, 0x20, 0xd4, 15}, s, env);   // pinsrb xmm2, esp, 15 (a dword register, not ah)
    EXPECT_EQ(s.xmm[2].hi >> 56, 0x34u);
    s.gpr[6] = 0x10000;
    env.put<std::uint64_t>(0x10000, 0x0706050403020180);
    run_ok({0x66, 0x0f, 0x38, 0x20, 0x1e}, s, env);   // pmovsxbw xmm3, [rsi] (m64, any alignment)
    EXPECT_EQ(s.xmm[3], (Xmm{0x000300020001ff80, 0x0007000600050004}));
    s.gpr[6] = 0x10001;
    env.put<std::uint32_t>(0x10001, 0x80ff0102);
    run_ok({0x66, 0x0f, 0x38, 0x31, 0x1e}, s, env);   // pmovzxbd xmm3, [rsi]
    EXPECT_EQ(s.xmm[3], (Xmm{0x0000000100000002, 0x00000080000000ff}));
}

TEST(SseInt, PtestFlags) {
    MemEnv env;
    CpuState s = cpu64();
    s.rflags = 0x2 | F_arith;
    s.xmm[1] = {0xf0, 0};
    s.xmm[2] = {0x0f, 0};
    run_ok({0x66, 0x0f, 0x38, 0x17, 0xca}, s, env);   // and = 0: ZF; src & ~dst != 0: no CF
    EXPECT_EQ(s.rflags & F_arith, F_zf);
    s.xmm[2] = {0x30, 0};
    run_ok({0x66, 0x0f, 0x38, 0x17, 0xca}, s, env);   // src inside dst: CF only
    EXPECT_EQ(s.rflags & F_arith, F_cf);
}

TEST(SseInt, HalfMovesAndAlignment) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[6] = 0x10008;   // 8-byte operands need no alignment
    env.put<std::uint64_t>(0x10008, 0x1122334455667788);
    s.xmm[1] = {1, 2};
    run_ok({0x0f, 0x16, 0x0e}, s, env);   // movhps xmm1, [rsi]
    EXPECT_EQ(s.xmm[1], (Xmm{1, 0x1122334455667788}));
    run_ok({0x66, 0x0f, 0x12, 0x0e}, s, env);   // movlpd xmm1, [rsi]
    EXPECT_EQ(s.xmm[1], (Xmm{0x1122334455667788, 0x1122334455667788}));
    s.xmm[1] = {5, 6};
    run_ok({0x0f, 0x17, 0x0e}, s, env);   // movhps [rsi], xmm1
    EXPECT_EQ(env.get<std::uint64_t>(0x10008), 6u);
    // paddb with a misaligned m128 is #GP(0).
    EXPECT_EQ(run({0x66, 0x0f, 0xfc, 0x0e}, s, env).fault.vector, 13);
}

} // namespace
} // namespace kxen::soft
