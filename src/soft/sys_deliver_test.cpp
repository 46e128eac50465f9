// Exception and interrupt delivery: long mode and 32-bit protected mode, stack switches, IST,
// error codes, IF, #DF escalation and triple faults; software interrupts and iret.
#include "soft/sys_fixture.hpp"

namespace kxen::soft {
namespace {

using namespace test;

std::uint64_t q(SysEnv& env, std::uint64_t a) { return env.get<std::uint64_t>(a); }
std::uint32_t d32(SysEnv& env, std::uint64_t a) { return env.get<std::uint32_t>(a); }

// A control transfer: completed, RIP wherever it went.
Result done(Bytes const& b, CpuState& s, Env& env) {
    Result r = emulate(b, s, env);
    EXPECT_EQ(r.outcome, Outcome::done) << r.what;
    return r;
}

TEST(Deliver, LongModeSameRingPushesFrameAndErrorCode) {
    SysEnv env;
    env.gate64(13, handler);
    CpuState s = kernel64();
    s.gpr[4] = 0x15008;   // not 16-byte aligned
    s.rip = 0x10040;
    ASSERT_EQ(raise(s, env, Fault{13, 0x10, 0, true}), Delivered::ok);
    EXPECT_EQ(s.rip, handler);
    EXPECT_EQ(s.gpr[4], 0x15000u - 48);
    EXPECT_EQ(q(env, 0x15000 - 48), 0x10u);        // error code
    EXPECT_EQ(q(env, 0x15000 - 40), 0x10040u);     // RIP of the faulting instruction
    EXPECT_EQ(q(env, 0x15000 - 32), kcs);
    EXPECT_EQ(q(env, 0x15000 - 24), 0x202u);
    EXPECT_EQ(q(env, 0x15000 - 16), 0x15008u);     // RSP before alignment
    EXPECT_EQ(q(env, 0x15000 - 8), kds);
    EXPECT_EQ(s.rflags, 0x2u);                     // interrupt gate clears IF
    EXPECT_EQ(s.seg[2].sel, kds);
    EXPECT_TRUE(s.cs_l && s.long_mode);
    EXPECT_EQ(s.cpl, 0u);
}

TEST(Deliver, TrapGateKeepsIfClearsTf) {
    SysEnv env;
    env.gate64(3, handler, 0xf);
    CpuState s = kernel64();
    s.rflags = 0x302;   // IF TF
    ASSERT_EQ(raise(s, env, Fault{3}), Delivered::ok);
    EXPECT_EQ(s.rflags, 0x202u);
}

TEST(Deliver, Ring3ToRing0SwitchesToRsp0WithNullSs) {
    SysEnv env;
    env.gate64(0x20, handler);
    CpuState s = user64();
    s.rip = 0x10100;
    ASSERT_EQ(interrupt(s, env, 0x20), Delivered::ok);
    EXPECT_EQ(s.cpl, 0u);
    EXPECT_EQ(s.seg[1].sel, kcs);
    EXPECT_EQ(s.seg[2].sel, 0u);
    EXPECT_EQ(s.gpr[4], kstack - 40);
    EXPECT_EQ(q(env, kstack - 40), 0x10100u);
    EXPECT_EQ(q(env, kstack - 32), ucs);
    EXPECT_EQ(q(env, kstack - 24), 0x202u);
    EXPECT_EQ(q(env, kstack - 16), ustack - 8);
    EXPECT_EQ(q(env, kstack - 8), uds);
    EXPECT_EQ(s.rip, handler);
}

TEST(Deliver, IstStackEvenWithoutPrivilegeChange) {
    SysEnv env;
    env.gate64(2, handler, 0xe, 0, 1);
    CpuState s = kernel64();
    ASSERT_EQ(interrupt(s, env, 2), Delivered::ok);
    EXPECT_EQ(s.gpr[4], ist1 - 40);
    EXPECT_EQ(s.seg[2].sel, kds);   // same ring: SS kept
}

TEST(Deliver, PageFaultSetsCr2) {
    SysEnv env;
    env.gate64(14, handler);
    CpuState s = kernel64();
    ASSERT_EQ(raise(s, env, Fault{14, 2, 0xdead000, true}), Delivered::ok);
    EXPECT_EQ(s.cr2, 0xdead000u);
    EXPECT_EQ(q(env, s.gpr[4]), 2u);
}

TEST(Deliver, NotPresentGateEscalatesToDoubleFault) {
    SysEnv env;
    env.gate64(13, handler, 0xe, 0, 0, kcs, false);
    env.gate64(8, handler + 0x10, 0xe, 0, 1);
    CpuState s = kernel64();
    ASSERT_EQ(raise(s, env, Fault{13, 0, 0, true}), Delivered::ok);
    EXPECT_EQ(s.rip, handler + 0x10);
    EXPECT_EQ(s.gpr[4], ist1 - 48);
    EXPECT_EQ(q(env, ist1 - 48), 0u);   // #DF's error code
}

TEST(Deliver, BenignThenContributoryIsDeliveredSerially) {
    SysEnv env;
    env.gate64(6, handler, 0xe, 0, 0, kcs, false);   // #UD's gate absent: #NP(6*8+2+1)
    env.gate64(11, handler + 0x20);
    CpuState s = kernel64();
    ASSERT_EQ(raise(s, env, Fault{6}), Delivered::ok);
    EXPECT_EQ(s.rip, handler + 0x20);
    EXPECT_EQ(q(env, s.gpr[4]), 6u * 8 + 3);
}

TEST(Deliver, FaultDeliveringDoubleFaultIsTripleFault) {
    SysEnv env;
    env.gate64(13, handler, 0xe, 0, 0, kcs, false);
    env.gate64(8, handler, 0xe, 0, 0, kcs, false);
    CpuState s = kernel64();
    CpuState const before = s;
    EXPECT_EQ(raise(s, env, Fault{13, 0, 0, true}), Delivered::triple_fault);
    EXPECT_EQ(s.rip, before.rip);
    EXPECT_EQ(s.gpr[4], before.gpr[4]);
}

TEST(Deliver, VectorBeyondIdtLimitAndBadTarget) {
    SysEnv env;
    env.gate64(13, handler);
    CpuState s = kernel64();
    s.idtr.limit = 16 * 14 - 1;
    ASSERT_EQ(interrupt(s, env, 0x30), Delivered::ok);   // #GP(0x30*8+2+1)
    EXPECT_EQ(q(env, s.gpr[4]), 0x30u * 8 + 3);
    env.gate64(0x21, handler, 0xe, 0, 0, kcs32);         // not a 64-bit code segment
    s = kernel64();
    ASSERT_EQ(interrupt(s, env, 0x21), Delivered::ok);
    EXPECT_EQ(q(env, s.gpr[4]), kcs32 + 1u);
    env.gate64(0x22, handler, 0xe, 0, 0, absent_code);
    env.gate64(11, handler + 0x30);
    s = kernel64();
    ASSERT_EQ(interrupt(s, env, 0x22), Delivered::ok);   // #NP(sel+EXT)
    EXPECT_EQ(s.rip, handler + 0x30);
    EXPECT_EQ(q(env, s.gpr[4]), absent_code + 1u);
}

TEST(Deliver, RealModeIsATripleFault) {
    SysEnv env;
    CpuState s = kernel32();
    s.cr0 = 0x10;
    EXPECT_EQ(raise(s, env, Fault{6}), Delivered::triple_fault);
}

TEST(Deliver, ProtectedModeSameRing) {
    SysEnv env;
    env.gate32(14, 0x10900);
    CpuState s = kernel32();
    s.gpr[4] = 0x15002;
    s.rip = 0x10010;
    ASSERT_EQ(raise(s, env, Fault{14, 4, 0x1234, true}), Delivered::ok);
    EXPECT_EQ(s.rip, 0x10900u);
    EXPECT_EQ(s.gpr[4], 0x15002u - 16);
    EXPECT_EQ(d32(env, 0x15002 - 16), 4u);
    EXPECT_EQ(d32(env, 0x15002 - 12), 0x10010u);
    EXPECT_EQ(d32(env, 0x15002 - 8), kcs32);
    EXPECT_EQ(d32(env, 0x15002 - 4), 0x202u);
    EXPECT_TRUE(s.cs_db);
    EXPECT_FALSE(s.cs_l);
}

TEST(Deliver, ProtectedModeRing3ToRing0UsesTssSs0Esp0) {
    SysEnv env;
    env.gate32(0x80, 0x10900, 0xf, 3);
    env.put<std::uint32_t>(tss + 4, 0x16000);
    env.put<std::uint32_t>(tss + 8, kds);
    CpuState s = kernel32();
    s.seg[1] = seg(ucs32, a_code32 | dpl3);
    s.seg[2] = seg(uds, a_data | dpl3);
    s.cpl = 3;
    s.gpr[4] = 0x17000;
    s.rip = 0x10020;
    auto r = done({0xcd, 0x80}, s, env);   // int 0x80, trap gate of DPL 3
    EXPECT_EQ(r.what, "int");
    EXPECT_EQ(s.rip, 0x10900u);
    EXPECT_EQ(s.cpl, 0u);
    EXPECT_EQ(s.seg[2].sel, kds);
    EXPECT_EQ(s.gpr[4], 0x16000u - 20);
    EXPECT_EQ(d32(env, 0x16000 - 20), 0x10022u);   // the next instruction
    EXPECT_EQ(d32(env, 0x16000 - 16), ucs32);
    EXPECT_EQ(d32(env, 0x16000 - 12), 0x202u);
    EXPECT_EQ(d32(env, 0x16000 - 8), 0x17000u);
    EXPECT_EQ(d32(env, 0x16000 - 4), uds);
    EXPECT_EQ(s.rflags & 0x200, 0x200u);        // trap gate
    // iretd back to ring 3.
    done({0xcf}, s, env);
    EXPECT_EQ(s.rip, 0x10022u);
    EXPECT_EQ(s.cpl, 3u);
    EXPECT_EQ(s.gpr[4], 0x17000u);
    EXPECT_EQ(s.seg[1].sel, ucs32);
    EXPECT_EQ(s.seg[2].sel, uds);
}

TEST(SoftInt, GateDplBelowCplIsGp) {
    SysEnv env;
    env.gate64(0x80, handler);   // DPL 0
    CpuState s = user64();
    auto r = run({0xcd, 0x80}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 13);
    EXPECT_EQ(r.fault.error_code, 0x80u * 8 + 2);
    EXPECT_EQ(run({0xcc}, s, env).fault.error_code, 3u * 8 + 2);   // int3 too
}

TEST(SoftInt, Int3AndIretqBackToRing3) {
    SysEnv env;
    env.gate64(3, handler, 0xf, 3);
    CpuState s = user64();
    s.rip = 0x10200;
    s.rflags = 0x246;
    CpuState const user = s;
    done({0xcc}, s, env);
    EXPECT_EQ(s.rip, handler);
    EXPECT_EQ(s.cpl, 0u);
    EXPECT_EQ(s.gpr[4], kstack - 40);
    EXPECT_EQ(q(env, s.gpr[4]), 0x10201u);
    done({0x48, 0xcf}, s, env);   // iretq
    EXPECT_EQ(s.rip, 0x10201u);
    EXPECT_EQ(s.cpl, 3u);
    EXPECT_EQ(s.gpr[4], user.gpr[4]);
    EXPECT_EQ(s.rflags, user.rflags);
    EXPECT_EQ(s.seg[1], user.seg[1]);
    EXPECT_EQ(s.seg[2], user.seg[2]);
    EXPECT_TRUE(s.cs_l);
}

TEST(SoftInt, IntoOnlyWithOfAndNotIn64BitMode) {
    SysEnv env;
    env.gate32(4, 0x10900, 0xe, 3);
    CpuState s = kernel32();
    run_ok({0xce}, s, env);   // OF clear: nothing
    s.rflags |= 0x800;
    done({0xce}, s, env);
    EXPECT_EQ(s.rip, 0x10900u);
    CpuState s64 = kernel64();
    EXPECT_EQ(run({0xce}, s64, env).fault.vector, 6);
}

TEST(Iret, Iretq64BitAlwaysPopsSsRsp) {
    SysEnv env;
    CpuState s = kernel64();
    std::uint64_t const sp = 0x15000;
    s.gpr[4] = sp;
    std::uint64_t const frame[5] = {0x10300, kcs, 0x2, 0x14000, kds};
    for (int i = 0; i < 5; ++i) env.put(sp + 8 * i, frame[i]);
    done({0x48, 0xcf}, s, env);
    EXPECT_EQ(s.rip, 0x10300u);
    EXPECT_EQ(s.gpr[4], 0x14000u);
    EXPECT_EQ(s.rflags, 0x2u);
    EXPECT_EQ(s.cpl, 0u);
    // A null SS is fine for ring 0 in 64-bit mode, not for ring 3.
    env.put<std::uint64_t>(sp + 32, 0);
    s.gpr[4] = sp;
    done({0x48, 0xcf}, s, env);
    EXPECT_EQ(s.seg[2].sel, 0u);
    env.put<std::uint64_t>(sp + 8, ucs);
    env.put<std::uint64_t>(sp + 32, 3);
    s = kernel64();
    s.gpr[4] = sp;
    auto r = run({0x48, 0xcf}, s, env);
    EXPECT_EQ(r.fault.vector, 13);
    EXPECT_EQ(r.fault.error_code, 0u);
}

} // namespace
} // namespace kxen::soft
