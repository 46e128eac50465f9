// The dispatcher: fetching missing bytes, unsupported opcodes, faults leave state untouched,
// RIP wrapping, segment overrides, LOCK.
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;
using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

TEST(Emulate, UnsupportedNamesTheBytes) {
    MemEnv env;
    CpuState s = cpu64();
    CpuState const before = s;
    auto r = run({0x0f, 0xfc, 0xc1}, s, env);   // paddb mm0, mm1: MMX
    EXPECT_EQ(r.outcome, Outcome::unsupported);
    EXPECT_EQ(r.what, "unsupported instruction 0f fc c1 (mmx)");
    EXPECT_EQ(s.rip, before.rip);
    r = run({0x0f, 0x0b}, s, env);   // ud2 is a row now: the fault it was made for
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 6);
    r = run({0xd6}, s, env);   // salc: not emulated
    EXPECT_EQ(r.outcome, Outcome::unsupported);
}

TEST(Emulate, FetchesMissingBytesThroughEnv) {
    MemEnv env;
    CpuState s = cpu64();
    s.rip = 0x10010;
    env.put_bytes(0x10010, {0x66, 0x0f, 0xd6, 0x07});   // movq [rdi],xmm0
    s.gpr[7] = 0x10100;
    s.xmm[0] = {0x42, 0};
    auto r = emulate(Bytes{0x66, 0x0f}, s, env);
    ASSERT_EQ(r.outcome, Outcome::done) << r.what;
    EXPECT_EQ(s.rip, 0x10014u);
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0x42u);

    s.rip = 0x10010;
    r = emulate(Bytes{}, s, env);   // nothing reported at all
    ASSERT_EQ(r.outcome, Outcome::done) << r.what;
    EXPECT_EQ(s.rip, 0x10014u);
}

TEST(Emulate, FetchStopsAtTheInstructionsEnd) {
    MemEnv env;   // memory ends at 0x14000
    CpuState s = cpu64();
    s.rip = env.end() - 3;
    env.put_bytes(s.rip, {0x0f, 0x01, 0xf9});   // rdtscp, ending exactly at the end of memory
    auto r = emulate(Bytes{0x0f}, s, env);
    EXPECT_EQ(r.outcome, Outcome::done) << r.what;
}

TEST(Emulate, TruncatedAtUnmappedPageIsFetchFault) {
    MemEnv env;
    CpuState s = cpu64();
    s.rip = env.end() - 2;
    auto r = emulate(Bytes{0x66, 0x0f}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 14);
    EXPECT_EQ(r.fault.address, env.end());
    EXPECT_EQ(r.fault.error_code & 16, 16u);   // instruction fetch
    EXPECT_EQ(s.rip, env.end() - 2);
}

TEST(Emulate, FaultLeavesStateUntouched) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[7] = 0x900000;   // unmapped
    s.xmm[0] = {1, 2};
    CpuState const before = s;
    auto r = run({0x66, 0x0f, 0xd6, 0x07}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 14);
    EXPECT_EQ(r.fault.error_code, 2u);   // write, supervisor
    EXPECT_EQ(r.what, "page fault at gva 0x900000 (write) in 66 0f d6 07 (movq [rdi],xmm0)");
    EXPECT_EQ(std::memcmp(&s, &before, sizeof s), 0);
}

TEST(Emulate, NonCanonicalIsGp) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[7] = 0x0000800000000000;
    auto r = run({0x66, 0x0f, 0xd6, 0x07}, s, env);
    EXPECT_EQ(r.fault.vector, 13);
}

TEST(Emulate, FsGsOverridesAddTheBase) {
    MemEnv env;
    CpuState s = cpu64();
    s.seg[5].base = 0x10000;   // gs
    s.seg[3].base = 0x999999;  // ds base is ignored in 64-bit mode
    s.xmm[1] = {0x77, 0};
    // 65 66 0f d6 0c 25 40 00 00 00: movq gs:[0x40],xmm1
    run_ok({0x65, 0x66, 0x0f, 0xd6, 0x0c, 0x25, 0x40, 0x00, 0x00, 0x00}, s, env);
    EXPECT_EQ(env.get<std::uint64_t>(0x10040), 0x77u);
    s.gpr[3] = 0x10080;
    run_ok({0x3e, 0x66, 0x0f, 0xd6, 0x0b}, s, env);   // ds: override is a no-op
    EXPECT_EQ(env.get<std::uint64_t>(0x10080), 0x77u);
}

TEST(Emulate, SegmentBasesIn32BitCode) {
    MemEnv env;
    CpuState s = test::cpu32();
    s.seg[3].base = 0x10000;   // ds
    s.seg[2].base = 0x11000;   // ss
    s.gpr[3] = 0x100;          // ebx
    s.gpr[5] = 0x200;          // ebp: ss by default
    s.xmm[0] = {0x11, 0};
    run_ok({0x66, 0x0f, 0xd6, 0x03}, s, env);         // movq [ebx],xmm0
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0x11u);
    run_ok({0x66, 0x0f, 0xd6, 0x45, 0x00}, s, env);   // movq [ebp+0],xmm0
    EXPECT_EQ(env.get<std::uint64_t>(0x11200), 0x11u);
}

TEST(Emulate, SixteenBitCodeWrapsIpAndAddresses) {
    MemEnv env{0x10000, 0x10000};   // one real-mode segment
    CpuState s = cpu64();
    s.long_mode = s.cs_l = s.cs_db = false;
    s.cr0 = 0x10;   // real mode
    s.seg[1].base = 0x10000;   // cs
    s.seg[3].base = 0x10000;   // ds
    s.rip = 0xfffe;
    s.gpr[3] = 0xfff0;         // bx
    s.gpr[6] = 0x0020;         // si: bx+si wraps to 0x0010
    env.put_bytes(0x1fffe, {0x0f, 0x31});   // rdtsc at cs:fffe
    auto r = emulate(Bytes{0x0f, 0x31}, s, env);
    ASSERT_EQ(r.outcome, Outcome::done) << r.what;
    EXPECT_EQ(s.rip, 0u);
    s.xmm[0] = {0x5a, 0};
    run_ok({0x66, 0x0f, 0xd6, 0x00}, s, env);   // movq [bx+si],xmm0
    EXPECT_EQ(env.get<std::uint64_t>(0x10010), 0x5au);
}

TEST(Emulate, LockOnlyWhereAllowed) {
    MemEnv env;
    CpuState s = cpu64();
    EXPECT_EQ(run({0xf0, 0x0f, 0x01, 0xf9}, s, env).fault.vector, 6);   // lock rdtscp
    EXPECT_EQ(run({0xf0, 0xf3, 0x0f, 0xb8, 0xc1}, s, env).fault.vector, 6);
}

TEST(Emulate, ClearsResumeFlag) {
    MemEnv env;
    CpuState s = cpu64();
    s.rflags |= 1u << 16;
    run_ok({0x0f, 0x01, 0xca}, s, env);
    EXPECT_EQ(s.rflags & (1u << 16), 0u);
}

TEST(Emulate, ExtraReportedBytesAreIgnored) {
    MemEnv env;
    CpuState s = cpu64();
    auto r = emulate(Bytes{0x0f, 0x01, 0xf9, 0xff, 0xff, 0xff, 0xff}, s, env);
    EXPECT_EQ(r.outcome, Outcome::done);
    EXPECT_EQ(s.rip, 0x10003u);
}

} // namespace
} // namespace kxen::soft
