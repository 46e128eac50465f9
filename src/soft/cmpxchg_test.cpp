// cmpxchg8b/cmpxchg16b: success, failure, alignment, LOCK, faults.
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

enum : unsigned { rax = 0, rcx = 1, rdx = 2, rbx = 3, rdi = 7 };

CpuState with_operands(std::uint64_t lo, std::uint64_t hi) {
    CpuState s = cpu64();
    s.gpr[rdi] = 0x10100;
    s.gpr[rax] = lo;
    s.gpr[rdx] = hi;
    s.gpr[rbx] = 0x1111111111111111;
    s.gpr[rcx] = 0x2222222222222222;
    return s;
}

TEST(Cmpxchg16b, SucceedsWhenEqual) {
    MemEnv env;
    env.put<std::uint64_t>(0x10100, 5);
    env.put<std::uint64_t>(0x10108, 6);
    CpuState s = with_operands(5, 6);
    auto r = run_ok({0xf0, 0x48, 0x0f, 0xc7, 0x0f}, s, env);   // lock cmpxchg16b [rdi]
    EXPECT_EQ(r.what, "cmpxchg16b");
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0x1111111111111111u);
    EXPECT_EQ(env.get<std::uint64_t>(0x10108), 0x2222222222222222u);
    EXPECT_TRUE(s.rflags & 0x40);
    EXPECT_EQ(s.gpr[rax], 5u);
    EXPECT_EQ(s.gpr[rdx], 6u);
}

TEST(Cmpxchg16b, LoadsMemoryWhenDifferent) {
    MemEnv env;
    env.put<std::uint64_t>(0x10100, 7);
    env.put<std::uint64_t>(0x10108, 8);
    CpuState s = with_operands(5, 8);
    s.rflags |= 0x40;
    run_ok({0x48, 0x0f, 0xc7, 0x0f}, s, env);
    EXPECT_FALSE(s.rflags & 0x40);
    EXPECT_EQ(s.gpr[rax], 7u);
    EXPECT_EQ(s.gpr[rdx], 8u);
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 7u);
}

TEST(Cmpxchg16b, MisalignedIsGp) {
    MemEnv env;
    CpuState s = with_operands(0, 0);
    s.gpr[rdi] = 0x10108;
    auto r = run({0xf0, 0x48, 0x0f, 0xc7, 0x0f}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 13);
}

TEST(Cmpxchg16b, ReadOnlyOrUnmappedIsPageFault) {
    MemEnv env;
    env.ro_begin = 0x10100;
    env.ro_end = 0x10110;
    CpuState s = with_operands(0, 0);
    auto r = run({0x48, 0x0f, 0xc7, 0x0f}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 14);
    EXPECT_EQ(r.fault.address, 0x10100u);
    EXPECT_EQ(r.fault.error_code & 2, 2u);   // a write
    s.gpr[rdi] = 0x900000;
    r = run({0x48, 0x0f, 0xc7, 0x0f}, s, env);
    EXPECT_EQ(r.fault.vector, 14);
    EXPECT_NE(r.what.find("page fault at gva 0x900000"), std::string::npos) << r.what;
}

TEST(Cmpxchg8b, BothOutcomes) {
    MemEnv env;
    env.put<std::uint64_t>(0x10100, 0x0000000600000005);
    CpuState s = with_operands(0xffffffff00000005, 0xffffffff00000006);
    run_ok({0xf0, 0x0f, 0xc7, 0x0f}, s, env);   // lock cmpxchg8b [rdi]
    EXPECT_TRUE(s.rflags & 0x40);
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0x2222222211111111u);
    EXPECT_EQ(s.gpr[rax], 0xffffffff00000005u);   // untouched on success

    s = with_operands(0xffffffff00000005, 0xffffffff00000006);
    run_ok({0x0f, 0xc7, 0x0f}, s, env);
    EXPECT_FALSE(s.rflags & 0x40);
    EXPECT_EQ(s.gpr[rax], 0x11111111u);   // 32-bit loads zero-extend
    EXPECT_EQ(s.gpr[rdx], 0x22222222u);
}

TEST(Cmpxchg16b, UsesEnvCmpxchg) {
    struct Atomic : MemEnv {
        int calls = 0;
        std::optional<bool> cmpxchg(std::uint64_t gva, void* e, void const* d, std::size_t len) override {
            ++calls;
            return MemEnv::cmpxchg(gva, e, d, len);
        }
    } env;
    CpuState s = with_operands(0, 0);
    run_ok({0xf0, 0x48, 0x0f, 0xc7, 0x0f}, s, env);
    EXPECT_EQ(env.calls, 1);
}

TEST(Cmpxchg16b, RegisterFormIsNotEmulated) {
    MemEnv env;
    CpuState s = cpu64();
    EXPECT_EQ(run({0x48, 0x0f, 0xc7, 0xc8}, s, env).outcome, Outcome::unsupported);
}

} // namespace
} // namespace kxen::soft
