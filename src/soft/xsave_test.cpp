// xrstor/xsave/fxsave/fxrstor/xgetbv and the KVM region conversion.
#include "soft/host_cpu.hpp"
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

constexpr std::uint64_t area = 0x10400;   // 64-byte aligned
const test::Bytes xrstor64{0x48, 0x0f, 0xae, 0x2e};   // xrstor64 [rsi]
const test::Bytes xsave64{0x48, 0x0f, 0xae, 0x27};    // xsave64 [rdi]

CpuState xstate_cpu(std::uint64_t rfbm = ~0ull) {
    CpuState s = cpu64();
    s.gpr[6] = s.gpr[7] = area;
    s.gpr[0] = rfbm & 0xffffffff;
    s.gpr[2] = rfbm >> 32;
    return s;
}

// A legacy area with recognisable values.
void fill_legacy(MemEnv& env) {
    env.put<std::uint16_t>(area + 0, 0x0c7f);           // FCW
    env.put<std::uint16_t>(area + 2, 0x3800);           // FSW, TOP=7
    env.put<std::uint8_t>(area + 4, 0x80);              // R7 valid
    env.put<std::uint16_t>(area + 6, 0x1e8);            // FOP
    env.put<std::uint64_t>(area + 8, 0xffffffff81000000);
    env.put<std::uint64_t>(area + 16, 0xffff888000001000);
    env.put<std::uint32_t>(area + 24, 0x9fc0);          // MXCSR
    long double const one = 1.0L;
    std::memcpy(env.at(area + 32), &one, 10);
    for (unsigned i = 0; i < 16; ++i) env.put<Xmm>(area + 160 + 16 * i, {i + 1, 100 + i});
}

CpuState dirty_cpu() {
    CpuState s = xstate_cpu();
    s.fcw = 0x0fff;
    s.fsw = 0x1234;
    s.ftwx = 0x55;
    s.fip = 77;
    std::memset(s.fpr, 0xab, sizeof s.fpr);
    for (auto& x : s.xmm) x = {0xdead, 0xbeef};
    return s;
}

TEST(Xrstor, ZeroXstateBvGivesInitState) {
    MemEnv env;
    fill_legacy(env);   // ignored except MXCSR, which xrstor loads whenever SSE is requested
    CpuState s = dirty_cpu();
    auto r = run_ok(xrstor64, s, env);
    EXPECT_EQ(r.what, "xrstor64");
    EXPECT_TRUE(r.xstate_changed);
    EXPECT_EQ(s.fcw, 0x037f);
    EXPECT_EQ(s.fsw, 0);
    EXPECT_EQ(s.ftwx, 0);
    EXPECT_EQ(s.fip, 0u);
    for (auto const& f : s.fpr)
        for (unsigned k = 0; k < 10; ++k) EXPECT_EQ(f[k], 0);
    for (auto const& x : s.xmm) EXPECT_EQ(x, (Xmm{0, 0}));
    EXPECT_EQ(s.mxcsr, 0x9fc0u);
}

TEST(Xrstor, LoadsX87AndSse) {
    MemEnv env;
    fill_legacy(env);
    env.put<std::uint64_t>(area + 512, 3);
    CpuState s = dirty_cpu();
    run_ok(xrstor64, s, env);
    EXPECT_EQ(s.fcw, 0x0c7f);
    EXPECT_EQ(s.fsw, 0x3800);
    EXPECT_EQ(s.ftwx, 0x80);
    EXPECT_EQ(s.fop, 0x1e8);
    EXPECT_EQ(s.fip, 0xffffffff81000000u);
    EXPECT_EQ(s.fdp, 0xffff888000001000u);
    long double one;
    std::memcpy(&one, s.fpr[0], 10);
    EXPECT_EQ(one, 1.0L);
    EXPECT_EQ(s.xmm[15], (Xmm{16, 115}));
    EXPECT_EQ(s.mxcsr, 0x9fc0u);
}

TEST(Xrstor, OnlyRequestedComponents) {
    MemEnv env;
    fill_legacy(env);
    env.put<std::uint64_t>(area + 512, 3);
    CpuState s = dirty_cpu();
    s.gpr[0] = 1;   // RFBM = x87 only: XMM and MXCSR untouched
    s.gpr[2] = 0;
    run_ok(xrstor64, s, env);
    EXPECT_EQ(s.fcw, 0x0c7f);
    EXPECT_EQ(s.xmm[0], (Xmm{0xdead, 0xbeef}));
    EXPECT_EQ(s.mxcsr, 0x1f80u);
}

TEST(Xrstor, NonRexWFormIn32BitCode) {
    MemEnv env;
    fill_legacy(env);
    env.put<std::uint64_t>(area + 512, 3);
    CpuState s = test::cpu32();
    s.gpr[6] = area;
    s.gpr[0] = 3;
    for (auto& x : s.xmm) x = {1, 1};
    run_ok({0x0f, 0xae, 0x2e}, s, env);   // xrstor [esi]
    EXPECT_EQ(s.fip, 0x81000000u);        // FIP is a 32-bit offset here
    EXPECT_EQ(s.xmm[7], (Xmm{8, 107}));
    EXPECT_EQ(s.xmm[8], (Xmm{1, 1}));     // xmm8-15 do not exist in 32-bit code
}

TEST(Xrstor, Faults) {
    MemEnv env;
    fill_legacy(env);
    auto expect_gp = [&](CpuState s, char const* why) {
        auto r = run(xrstor64, s, env);
        EXPECT_EQ(r.outcome, Outcome::fault) << why;
        EXPECT_EQ(r.fault.vector, 13) << why << ": " << r.what;
    };
    CpuState s = xstate_cpu();
    s.gpr[6] = area + 16;
    expect_gp(s, "not 64-byte aligned");
    env.put<std::uint64_t>(area + 512, 4);   // AVX but XCR0 = 3
    expect_gp(xstate_cpu(), "XSTATE_BV outside XCR0");
    env.put<std::uint64_t>(area + 512, 3);
    env.put<std::uint64_t>(area + 528, 1);
    expect_gp(xstate_cpu(), "header bytes 16..23");
    env.put<std::uint64_t>(area + 528, 0);
    env.put<std::uint64_t>(area + 520, 1);
    expect_gp(xstate_cpu(), "XCOMP_BV without compaction bit");
    env.put<std::uint64_t>(area + 520, 0);
    env.put<std::uint32_t>(area + 24, 0x10000 | 0x1f80);
    expect_gp(xstate_cpu(), "reserved MXCSR");
    env.put<std::uint32_t>(area + 24, 0x1f80);

    env.put<std::uint64_t>(area + 520, 1ull << 63);
    EXPECT_EQ(run(xrstor64, s = xstate_cpu(), env).outcome, Outcome::unsupported);
    env.put<std::uint64_t>(area + 520, 0);

    s = xstate_cpu();
    s.gpr[6] = env.end() - 512;   // header is past the end of memory
    s.gpr[6] &= ~63ull;
    auto r = run(xrstor64, s, env);
    EXPECT_EQ(r.fault.vector, 14);

    s = xstate_cpu();
    s.cr4 &= ~(1ull << 18);
    EXPECT_EQ(run(xrstor64, s, env).fault.vector, 6);
    s = xstate_cpu();
    s.cr0 |= 8;
    EXPECT_EQ(run(xrstor64, s, env).fault.vector, 7);
    s = xstate_cpu();
    s.cpl = 3;   // xrstor is fine in ring 3
    run_ok(xrstor64, s, env);
}

TEST(Xsave, WritesRequestedPartsAndXstateBv) {
    MemEnv env;
    std::memset(env.at(area), 0xcc, 512);
    env.put<std::uint64_t>(area + 512, 0x8000000000000000);   // bits outside RFBM are kept
    CpuState s = xstate_cpu();
    s.fcw = 0x027f;
    s.xmm[3] = {1, 2};
    s.mxcsr = 0x1fa0;
    run_ok(xsave64, s, env);
    EXPECT_EQ(env.get<std::uint16_t>(area), 0x027f);
    EXPECT_EQ(env.get<Xmm>(area + 160 + 48), (Xmm{1, 2}));
    EXPECT_EQ(env.get<std::uint32_t>(area + 24), 0x1fa0u);
    EXPECT_EQ(env.get<std::uint32_t>(area + 28), mxcsr_mask());
    EXPECT_EQ(env.get<std::uint64_t>(area + 512), 0x8000000000000003u);
    EXPECT_EQ(env.get<std::uint8_t>(area + 464), 0xcc);   // the software-available bytes

    // Round trip through xrstor.
    CpuState t = dirty_cpu();
    env.put<std::uint64_t>(area + 512, 3);
    env.put<std::uint64_t>(area + 520, 0);
    run_ok(xrstor64, t, env);
    EXPECT_EQ(t.fcw, 0x027f);
    EXPECT_EQ(t.xmm[3], (Xmm{1, 2}));
    EXPECT_EQ(t.mxcsr, 0x1fa0u);
}

TEST(Xsave, X87OnlyLeavesXmmArea) {
    MemEnv env;
    std::memset(env.at(area), 0xcc, 1024);
    CpuState s = xstate_cpu(1);
    run_ok(xsave64, s, env);
    EXPECT_EQ(env.get<std::uint16_t>(area), 0x037f);
    EXPECT_EQ(env.get<std::uint32_t>(area + 24), 0xccccccccu);   // MXCSR only with SSE/AVX
    EXPECT_EQ(env.get<std::uint8_t>(area + 160), 0xcc);
    EXPECT_EQ(env.get<std::uint64_t>(area + 512) & 3, 0u);         // x87 is in init state
}

TEST(Xsave, AvxComponentRoundTrip) {
    auto avx = xsave_component(2);
    if (!avx) GTEST_SKIP() << "host has no AVX state component";
    MemEnv env;
    CpuState s = xstate_cpu();
    s.xcr0 = 7;
    for (unsigned i = 0; i < avx->size; ++i) s.xsave_ext[avx->offset - xsave_ext_offset + i] = static_cast<std::uint8_t>(i);
    s.xsave_ext_bv = 4;
    run_ok(xsave64, s, env);
    EXPECT_EQ(env.get<std::uint64_t>(area + 512) & 4, 4u);
    EXPECT_EQ(env.get<std::uint8_t>(area + avx->offset + 5), 5);

    CpuState t = xstate_cpu();
    t.xcr0 = 7;
    run_ok(xrstor64, t, env);
    EXPECT_EQ(t.xsave_ext_bv & 4, 4u);
    EXPECT_EQ(t.xsave_ext[avx->offset - xsave_ext_offset + 200], 200);

    env.put<std::uint64_t>(area + 512, 3);   // AVX requested but not in XSTATE_BV: init (zero)
    run_ok(xrstor64, t, env);
    EXPECT_EQ(t.xsave_ext_bv & 4, 0u);
    EXPECT_EQ(t.xsave_ext[avx->offset - xsave_ext_offset + 200], 0);
}

TEST(Fxsave, RoundTripAndAlignment) {
    MemEnv env;
    CpuState s = xstate_cpu();
    s.fcw = 0x0b7f;
    s.xmm[9] = {9, 99};
    s.mxcsr = 0x3f80;
    run_ok({0x48, 0x0f, 0xae, 0x07}, s, env);   // fxsave64 [rdi]
    CpuState t = dirty_cpu();
    run_ok({0x48, 0x0f, 0xae, 0x0e}, t, env);   // fxrstor64 [rsi]
    EXPECT_EQ(t.fcw, 0x0b7f);
    EXPECT_EQ(t.xmm[9], (Xmm{9, 99}));
    EXPECT_EQ(t.mxcsr, 0x3f80u);
    t.gpr[6] = area + 8;
    EXPECT_EQ(run({0x48, 0x0f, 0xae, 0x0e}, t, env).fault.vector, 13);
}

TEST(Xgetbv, Xcr0AndXinuse) {
    MemEnv env;
    CpuState s = cpu64();
    s.xcr0 = 0x2e7;
    s.gpr[1] = 0;
    run_ok({0x0f, 0x01, 0xd0}, s, env);
    EXPECT_EQ(s.gpr[0], 0x2e7u);
    EXPECT_EQ(s.gpr[2], 0u);
    s.gpr[1] = 1;   // x87/SSE in init state, no extended state in use
    run_ok({0x0f, 0x01, 0xd0}, s, env);
    EXPECT_EQ(s.gpr[0], 0u);
    s.xmm[0] = {1, 0};
    run_ok({0x0f, 0x01, 0xd0}, s, env);
    EXPECT_EQ(s.gpr[0], 2u);
    s.gpr[1] = 2;
    EXPECT_EQ(run({0x0f, 0x01, 0xd0}, s, env).fault.vector, 13);
    s.gpr[1] = 0;
    s.cr4 &= ~(1ull << 18);
    EXPECT_EQ(run({0x0f, 0x01, 0xd0}, s, env).fault.vector, 6);
}

TEST(KvmXsave, RoundTrip) {
    std::vector<std::uint8_t> region(kvm_xsave_size, 0);
    region[0] = 0x7f;
    region[1] = 0x03;                  // FCW
    region[24] = 0x80;
    region[25] = 0x1f;                 // MXCSR
    region[160] = 0x42;                // XMM0
    region[512] = 0x07;                // XSTATE_BV: x87 SSE AVX
    region[xsave_ext_offset] = 0x99;   // first byte of the AVX component
    CpuState s{};
    from_kvm_xsave(region, s);
    EXPECT_EQ(s.fcw, 0x037f);
    EXPECT_EQ(s.mxcsr, 0x1f80u);
    EXPECT_EQ(s.xmm[0].lo, 0x42u);
    EXPECT_EQ(s.xsave_ext_bv, 4u);
    EXPECT_EQ(s.xsave_ext[0], 0x99);
    s.xmm[1] = {5, 6};
    std::vector<std::uint8_t> out = region;
    to_kvm_xsave(s, out);
    EXPECT_EQ(out[176], 5);
    EXPECT_EQ(out[512], 7);
    EXPECT_EQ(out[xsave_ext_offset], 0x99);
}

} // namespace
} // namespace kxen::soft
