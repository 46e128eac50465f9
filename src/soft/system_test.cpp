// rdtsc/rdtscp/rdpid, clac/stac, fences and flushes.
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

TEST(Rdtscp, SplitsTscAndReadsTscAux) {
    MemEnv env;
    env.tsc = 0x1122334455667788;
    CpuState s = cpu64();
    s.gpr[0] = s.gpr[1] = s.gpr[2] = ~0ull;
    s.tsc_aux = 0xabcdef0000000003;
    auto r = run_ok({0x0f, 0x01, 0xf9}, s, env);
    EXPECT_EQ(r.what, "rdtscp");
    EXPECT_FALSE(r.xstate_changed);
    EXPECT_EQ(s.gpr[0], 0x55667788u);
    EXPECT_EQ(s.gpr[2], 0x11223344u);
    EXPECT_EQ(s.gpr[1], 3u);
}

TEST(Rdtsc, TsdAtCpl3IsGp) {
    MemEnv env;
    CpuState s = cpu64();
    s.cr4 |= 4;
    run_ok({0x0f, 0x31}, s, env);   // ring 0 may
    EXPECT_EQ(s.gpr[0], 0x55667788u);
    s.cpl = 3;
    auto r = run({0x0f, 0x01, 0xf9}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 13);
}

TEST(Rdpid, ReadsTscAux) {
    MemEnv env;
    CpuState s = cpu64();
    s.tsc_aux = 7;
    s.gpr[0] = ~0ull;
    run_ok({0xf3, 0x0f, 0xc7, 0xf8}, s, env);
    EXPECT_EQ(s.gpr[0], 7u);
}

TEST(Smap, ClacStac) {
    MemEnv env;
    CpuState s = cpu64();
    run_ok({0x0f, 0x01, 0xcb}, s, env);
    EXPECT_EQ(s.rflags, 0x40002u);
    run_ok({0x0f, 0x01, 0xca}, s, env);
    EXPECT_EQ(s.rflags, 0x2u);
    s.cpl = 3;
    auto r = run({0x0f, 0x01, 0xcb}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 6);
}

TEST(Fences, AreNoOps) {
    MemEnv env;
    CpuState s = cpu64();
    CpuState const before = s;
    for (test::Bytes b : {test::Bytes{0x0f, 0xae, 0xe8}, test::Bytes{0x0f, 0xae, 0xf0}, test::Bytes{0x0f, 0xae, 0xf8}}) {
        s.rip = before.rip;
        run_ok(b, s, env);
        EXPECT_EQ(s.gpr[0], before.gpr[0]);
    }
}

TEST(Flush, ProbesTheAddress) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[7] = 0x10100;
    run_ok({0x0f, 0xae, 0x3f}, s, env);         // clflush [rdi]
    run_ok({0x66, 0x0f, 0xae, 0x3f}, s, env);   // clflushopt [rdi]
    run_ok({0x66, 0x0f, 0xae, 0x37}, s, env);   // clwb [rdi]
    s.gpr[7] = 0x1000;
    EXPECT_EQ(run({0x0f, 0xae, 0x3f}, s, env).outcome, Outcome::fault);
}

} // namespace
} // namespace kxen::soft
