// SSE logic and moves, ldmxcsr/stmxcsr, and the class checks that make them #UD/#NM.
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;
using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

TEST(Sse, PxorZeroes) {
    MemEnv env;
    CpuState s = cpu64();
    s.xmm[0] = {0x1234, 0x5678};
    auto r = run_ok({0x66, 0x0f, 0xef, 0xc0}, s, env);
    EXPECT_EQ(r.what, "pxor");
    EXPECT_TRUE(r.xstate_changed);
    EXPECT_EQ(s.xmm[0], (Xmm{0, 0}));
}

TEST(Sse, PxorGeneralRipRelativeHighRegister) {
    MemEnv env;
    CpuState s = cpu64();
    // 66 44 0f ef 0d 00 01 00 00: pxor xmm9,[rip+0x100], relative to the next instruction:
    // 0x10007 + 9 + 0x100 = 0x10110.
    s.rip = 0x10007;
    env.put<Xmm>(0x10110, {0xff00ff00ff00ff00, 0x0123456789abcdef});
    s.xmm[9] = {0xffffffffffffffff, 0};
    run_ok({0x66, 0x44, 0x0f, 0xef, 0x0d, 0x00, 0x01, 0x00, 0x00}, s, env);
    EXPECT_EQ(s.xmm[9], (Xmm{0x00ff00ff00ff00ff, 0x0123456789abcdef}));
}

TEST(Sse, XorpsXorpdAndLogicFamily) {
    MemEnv env;
    CpuState s = cpu64();
    s.xmm[1] = {0b1100, 0b1010};
    s.xmm[2] = {0b1010, 0b0110};
    CpuState t = s;
    run_ok({0x0f, 0x57, 0xca}, t, env);   // xorps xmm1,xmm2
    EXPECT_EQ(t.xmm[1], (Xmm{0b0110, 0b1100}));
    t = s;
    run_ok({0x66, 0x0f, 0xdb, 0xca}, t, env);   // pand
    EXPECT_EQ(t.xmm[1], (Xmm{0b1000, 0b0010}));
    t = s;
    run_ok({0x66, 0x0f, 0xeb, 0xca}, t, env);   // por
    EXPECT_EQ(t.xmm[1], (Xmm{0b1110, 0b1110}));
    t = s;
    run_ok({0x66, 0x0f, 0xdf, 0xca}, t, env);   // pandn: ~xmm1 & xmm2
    EXPECT_EQ(t.xmm[1], (Xmm{0b0010, 0b0100}));

    // xorpd xmm3,[rax+rcx*8+0x10]
    t = s;
    t.gpr[0] = 0x10000;
    t.gpr[1] = 2;
    env.put<Xmm>(0x10020, {1, 2});
    t.xmm[3] = {3, 3};
    run_ok({0x66, 0x0f, 0x57, 0x5c, 0xc8, 0x10}, t, env);
    EXPECT_EQ(t.xmm[3], (Xmm{2, 1}));
}

TEST(Sse, MisalignedLegacyOperandIsGp) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[0] = 0x10008;
    s.gpr[1] = 0;
    auto r = run({0x66, 0x0f, 0x57, 0x5c, 0xc8, 0x10}, s, env);   // xorpd xmm3,[rax+rcx*8+0x10]
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 13);
    EXPECT_EQ(s.rip, 0x10000u);   // nothing committed
}

TEST(Sse, MovqStoreToMemory) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[7] = 0x10100;   // rdi
    s.xmm[0] = {0x1122334455667788, 0x99};
    auto r = run_ok({0x66, 0x0f, 0xd6, 0x07}, s, env);
    EXPECT_FALSE(r.xstate_changed);
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0x1122334455667788u);
    EXPECT_EQ(env.get<std::uint64_t>(0x10108), 0u);   // only 8 bytes written

    // movq [rdi+r12*2-8],xmm10
    s.gpr[12] = 0x10;
    s.xmm[10] = {0xabcdef, 7};
    run_ok({0x66, 0x46, 0x0f, 0xd6, 0x54, 0x67, 0xf8}, s, env);
    EXPECT_EQ(env.get<std::uint64_t>(0x10100 + 0x20 - 8), 0xabcdefu);
}

TEST(Sse, MovqRegisterFormsZeroUpperHalf) {
    MemEnv env;
    CpuState s = cpu64();
    s.xmm[2] = {5, 6};
    s.xmm[1] = {7, 8};
    run_ok({0xf3, 0x0f, 0x7e, 0xca}, s, env);   // movq xmm1,xmm2
    EXPECT_EQ(s.xmm[1], (Xmm{5, 0}));
    s.xmm[3] = {9, 9};
    run_ok({0x66, 0x0f, 0xd6, 0xd3}, s, env);   // movq xmm3,xmm2 (d6 form: rm is the destination)
    EXPECT_EQ(s.xmm[3], (Xmm{5, 0}));
}

TEST(Sse, MovqLoadFromMemory) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[6] = 0x10203;   // rsi, unaligned is fine
    env.put<std::uint64_t>(0x10203, 0xdeadbeefcafef00d);
    s.xmm[3] = {1, 1};
    run_ok({0xf3, 0x0f, 0x7e, 0x1e}, s, env);
    EXPECT_EQ(s.xmm[3], (Xmm{0xdeadbeefcafef00d, 0}));
}

TEST(Sse, MovqMovdGeneralRegisters) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[0] = 0x8877665544332211;
    s.xmm[6] = {1, 1};
    run_ok({0x66, 0x48, 0x0f, 0x6e, 0xf0}, s, env);   // movq xmm6,rax
    EXPECT_EQ(s.xmm[6], (Xmm{0x8877665544332211, 0}));
    s.xmm[15] = {0x0102030405060708, 3};
    s.gpr[9] = 0;
    run_ok({0x66, 0x4d, 0x0f, 0x7e, 0xf9}, s, env);   // movq r9,xmm15
    EXPECT_EQ(s.gpr[9], 0x0102030405060708u);
    run_ok({0x66, 0x0f, 0x6e, 0xc0}, s, env);         // movd xmm0,eax
    EXPECT_EQ(s.xmm[0], (Xmm{0x44332211, 0}));
    s.gpr[1] = ~0ull;
    s.xmm[1] = {0xaaaaaaaabbbbbbbb, 1};
    run_ok({0x66, 0x0f, 0x7e, 0xc9}, s, env);         // movd ecx,xmm1: zero-extended
    EXPECT_EQ(s.gpr[1], 0xbbbbbbbbu);
    s.gpr[3] = 0x10040;
    run_ok({0x66, 0x0f, 0x7e, 0x13}, s, env);         // movd [rbx],xmm2
    s.xmm[2] = {0, 0};
    env.put<std::uint32_t>(0x10040, 0x12345678);
    run_ok({0x66, 0x0f, 0x6e, 0x13}, s, env);         // movd xmm2,[rbx]
    EXPECT_EQ(s.xmm[2], (Xmm{0x12345678, 0}));
}

TEST(Sse, AlignedAndUnalignedMoves) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[6] = 0x10100;
    s.gpr[7] = 0x10200;
    env.put<Xmm>(0x10100, {11, 22});
    run_ok({0x66, 0x0f, 0x6f, 0x06}, s, env);         // movdqa xmm0,[rsi]
    EXPECT_EQ(s.xmm[0], (Xmm{11, 22}));
    s.xmm[8] = {33, 44};
    run_ok({0x66, 0x44, 0x0f, 0x7f, 0x07}, s, env);   // movdqa [rdi],xmm8
    EXPECT_EQ(env.get<Xmm>(0x10200), (Xmm{33, 44}));
    env.put<Xmm>(0x10101, {55, 66});
    run_ok({0xf3, 0x0f, 0x6f, 0x46, 0x01}, s, env);   // movdqu xmm0,[rsi+1]
    EXPECT_EQ(s.xmm[0], (Xmm{55, 66}));
    s.xmm[1] = {77, 88};
    run_ok({0xf3, 0x0f, 0x7f, 0x4f, 0x03}, s, env);   // movdqu [rdi+3],xmm1
    EXPECT_EQ(env.get<Xmm>(0x10203), (Xmm{77, 88}));
    run_ok({0x0f, 0x11, 0x0f}, s, env);               // movups [rdi],xmm1
    EXPECT_EQ(env.get<Xmm>(0x10200), (Xmm{77, 88}));
    s.gpr[6] = 0x10101;
    EXPECT_EQ(run({0x0f, 0x28, 0x06}, s, env).outcome, Outcome::fault);   // movaps misaligned
}

TEST(Sse, MovssMovsdMergeOrZero) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[6] = 0x10100;
    env.put<std::uint32_t>(0x10100, 0x3f800000);
    s.xmm[0] = {~0ull, ~0ull};
    run_ok({0xf3, 0x0f, 0x10, 0x06}, s, env);   // movss xmm0,[rsi]: upper bits zeroed
    EXPECT_EQ(s.xmm[0], (Xmm{0x3f800000, 0}));
    s.xmm[1] = {~0ull, ~0ull};
    s.xmm[2] = {0x1234, 5};
    run_ok({0xf2, 0x0f, 0x10, 0xca}, s, env);   // movsd xmm1,xmm2: merges the low qword
    EXPECT_EQ(s.xmm[1], (Xmm{0x1234, ~0ull}));
}

TEST(Sse, LdmxcsrStmxcsr) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[4] = 0x10100;   // rsp
    env.put<std::uint32_t>(0x10104, 0x9fc0);   // FTZ|DAZ, all masked
    run_ok({0x0f, 0xae, 0x54, 0x24, 0x04}, s, env);
    EXPECT_EQ(s.mxcsr, 0x9fc0u);
    run_ok({0x0f, 0xae, 0x5c, 0x24, 0x08}, s, env);
    EXPECT_EQ(env.get<std::uint32_t>(0x10108), 0x9fc0u);
}

TEST(Sse, LdmxcsrReservedBitsFault) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[4] = 0x10100;
    for (std::uint32_t bad : {0x10000u, 0x80000000u}) {
        env.put<std::uint32_t>(0x10104, 0x1f80 | bad);
        auto r = run({0x0f, 0xae, 0x54, 0x24, 0x04}, s, env);
        EXPECT_EQ(r.outcome, Outcome::fault);
        EXPECT_EQ(r.fault.vector, 13);
        EXPECT_EQ(s.mxcsr, 0x1f80u);
    }
}

TEST(Sse, ClassChecks) {
    MemEnv env;
    CpuState s = cpu64();
    s.cr0 |= 8;   // TS: lazy FPU switch, the guest must see #NM
    auto r = run({0x66, 0x0f, 0xef, 0xc0}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 7);
    s = cpu64();
    s.cr4 &= ~0x200ull;   // !OSFXSR
    r = run({0x66, 0x0f, 0xef, 0xc0}, s, env);
    EXPECT_EQ(r.fault.vector, 6);
    s = cpu64();
    r = run({0xf0, 0x66, 0x0f, 0xef, 0xc0}, s, env);   // lock pxor
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 6);
}

TEST(Sse, ThirtyTwoBitCodeUsesEbpAndSkipsRex) {
    MemEnv env;
    CpuState s = test::cpu32();
    s.gpr[5] = 0x10108;   // ebp
    s.xmm[1] = {0x55, 0};
    run_ok({0x66, 0x0f, 0xd6, 0x4d, 0xf8}, s, env);   // movq [ebp-8],xmm1
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0x55u);
}

TEST(Sse, AddressSizeWraps) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[7] = 0xffffffff00010100;   // with 0x67 only edi counts
    s.xmm[0] = {0x77, 0};
    run_ok({0x67, 0x66, 0x0f, 0xd6, 0x07}, s, env);
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0x77u);
}

} // namespace
} // namespace kxen::soft
