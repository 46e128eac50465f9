// BMI1/BMI2 against hand-computed values and, where the host has BMI2, the host's instructions.
#include <immintrin.h>
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;
using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

enum : unsigned { rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10 };

__attribute__((target("bmi2"))) std::uint64_t host_pdep(std::uint64_t v, std::uint64_t m) { return _pdep_u64(v, m); }
__attribute__((target("bmi2"))) std::uint64_t host_pext(std::uint64_t v, std::uint64_t m) { return _pext_u64(v, m); }

TEST(Bmi, Shifts) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rcx] = 0x80000001;
    s.gpr[rdx] = 33;   // masked to 1 for 32-bit
    run_ok({0xc4, 0xe2, 0x69, 0xf7, 0xc1}, s, env);   // shlx eax,ecx,edx
    EXPECT_EQ(s.gpr[rax], 2u);
    run_ok({0xc4, 0xe2, 0xe9, 0xf7, 0xc1}, s, env);   // shlx rax,rcx,rdx
    EXPECT_EQ(s.gpr[rax], 0x80000001ull << 33);
    s.gpr[r9] = 0xf000000000000000;
    s.gpr[r10] = 60;
    run_ok({0xc4, 0x42, 0xab, 0xf7, 0xc1}, s, env);   // shrx r8,r9,r10
    EXPECT_EQ(s.gpr[r8], 0xfu);
    s.gpr[rsi] = 0x10100;
    env.put<std::int32_t>(0x10100, -64);
    s.gpr[rdx] = 3;
    s.rflags = 0x2 | 0x8d5;
    run_ok({0xc4, 0xe2, 0x6a, 0xf7, 0x06}, s, env);   // sarx eax,[rsi],edx
    EXPECT_EQ(s.gpr[rax], 0xfffffff8u);
    EXPECT_EQ(s.rflags, 0x2u | 0x8d5);   // no flags
}

TEST(Bmi, RorxAndn) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rcx] = 0x1;
    run_ok({0xc4, 0xe3, 0xfb, 0xf0, 0xc1, 0x0d}, s, env);   // rorx rax,rcx,13
    EXPECT_EQ(s.gpr[rax], 1ull << 51);
    s.gpr[rbx] = 0xff00;
    s.gpr[rcx] = 0xfff0;
    run_ok({0xc4, 0xe2, 0x60, 0xf2, 0xc1}, s, env);   // andn eax,ebx,ecx
    EXPECT_EQ(s.gpr[rax], 0xf0u);
    EXPECT_EQ(s.rflags & 0x8c1, 0u);
    s.gpr[rcx] = 0xff00;
    run_ok({0xc4, 0xe2, 0x60, 0xf2, 0xc1}, s, env);
    EXPECT_EQ(s.rflags & 0x40, 0x40u);
}

TEST(Bmi, BzhiBextr) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rcx] = 0xffffffff;
    s.gpr[rdx] = 8;
    run_ok({0xc4, 0xe2, 0x68, 0xf5, 0xc1}, s, env);   // bzhi eax,ecx,edx
    EXPECT_EQ(s.gpr[rax], 0xffu);
    EXPECT_EQ(s.rflags & 1, 0u);
    s.gpr[rdx] = 40;
    run_ok({0xc4, 0xe2, 0x68, 0xf5, 0xc1}, s, env);
    EXPECT_EQ(s.gpr[rax], 0xffffffffu);
    EXPECT_EQ(s.rflags & 1, 1u);                      // CF: index past the width
    s.gpr[rcx] = 0x12345678;
    s.gpr[rdx] = 0x0804;                              // start 4, length 8
    run_ok({0xc4, 0xe2, 0x68, 0xf7, 0xc1}, s, env);   // bextr eax,ecx,edx
    EXPECT_EQ(s.gpr[rax], 0x67u);
}

TEST(Bmi, BlsFamily) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rcx] = 0b101000;
    run_ok({0xc4, 0xe2, 0x78, 0xf3, 0xc9}, s, env);   // blsr eax,ecx
    EXPECT_EQ(s.gpr[rax], 0b100000u);
    run_ok({0xc4, 0xe2, 0x78, 0xf3, 0xd9}, s, env);   // blsi eax,ecx
    EXPECT_EQ(s.gpr[rax], 0b1000u);
    EXPECT_EQ(s.rflags & 1, 1u);
    run_ok({0xc4, 0xe2, 0xf8, 0xf3, 0xd1}, s, env);   // blsmsk rax,rcx
    EXPECT_EQ(s.gpr[rax], 0b1111u);
    s.gpr[rcx] = 0;
    run_ok({0xc4, 0xe2, 0xf8, 0xf3, 0xd1}, s, env);
    EXPECT_EQ(s.gpr[rax], ~0ull);
    EXPECT_EQ(s.rflags & 0x41, 1u);                   // CF set, ZF clear
}

TEST(Bmi, MulxPdepPext) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rdx] = ~0ull;
    s.gpr[rcx] = 3;
    run_ok({0xc4, 0xe2, 0xe3, 0xf6, 0xc1}, s, env);   // mulx rax,rbx,rcx: rax = hi, rbx = lo
    EXPECT_EQ(s.gpr[rax], 2u);
    EXPECT_EQ(s.gpr[rbx], ~0ull - 2);

    for (std::uint64_t v : {0x5ull, 0x123456789abcdefull, ~0ull}) {
        for (std::uint64_t m : {0xf0f0ull, 0x8000000000000001ull, 0x00ff00ff00ff00ffull}) {
            s.gpr[rbx] = v;
            s.gpr[rcx] = m;
            run_ok({0xc4, 0xe2, 0xe3, 0xf5, 0xc1}, s, env);   // pdep rax,rbx,rcx
            std::uint64_t const dep = s.gpr[rax];
            run_ok({0xc4, 0xe2, 0x62, 0xf5, 0xc1}, s, env);   // pext eax,ebx,ecx
            std::uint64_t const ext = s.gpr[rax];
            if (__builtin_cpu_supports("bmi2")) {
                EXPECT_EQ(dep, host_pdep(v, m));
                EXPECT_EQ(ext, host_pext(v & 0xffffffff, m & 0xffffffff));
            }
        }
    }
    s.gpr[rbx] = 0b101;
    s.gpr[rcx] = 0xf0;
    run_ok({0xc4, 0xe2, 0xe3, 0xf5, 0xc1}, s, env);
    EXPECT_EQ(s.gpr[rax], 0x50u);
}

TEST(Bmi, BadVexForms) {
    MemEnv env;
    CpuState s = cpu64();
    EXPECT_EQ(run({0xc4, 0xe2, 0x6d, 0xf7, 0xc1}, s, env).fault.vector, 6);         // VEX.L=1
    EXPECT_EQ(run({0x66, 0xc4, 0xe2, 0x69, 0xf7, 0xc1}, s, env).fault.vector, 6);   // 66 before VEX
    EXPECT_EQ(run({0xc5, 0xf5, 0xef, 0xc2}, s, env).outcome, Outcome::unsupported); // AVX
}

} // namespace
} // namespace kxen::soft
