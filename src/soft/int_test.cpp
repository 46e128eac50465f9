// Integer instructions with memory, the stack, branches, string ops, LOCK and faults, checked
// against values worked out from the SDM (the register forms are checked against the host CPU
// in int_host_test.cpp).
#include "soft/regs.hpp"
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;
using test::cpu32;
using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

constexpr std::uint64_t cf = 1, zf = 0x40, sf = 0x80, of = 0x800, df = 0x400;

// Counts compare-exchanges and can make the first one lose a race against another vCPU.
class RacyEnv : public MemEnv {
public:
    std::optional<bool> cmpxchg(std::uint64_t gva, void* expected, void const* desired, std::size_t len) override {
        ++cmpxchgs;
        if (interfere) {
            interfere = false;
            put<std::uint32_t>(gva, get<std::uint32_t>(gva) + 100);   // another vCPU's add
        }
        return Env::cmpxchg(gva, expected, desired, len);
    }
    int cmpxchgs = 0;
    bool interfere = false;
};

TEST(IntAlu, LockedAddRetriesUntilItStores) {
    RacyEnv env;
    CpuState s = cpu64();
    s.gpr[rdi] = 0x10100;
    s.gpr[rax] = 5;
    env.put<std::uint32_t>(0x10100, 10);
    env.interfere = true;
    run_ok({0xf0, 0x01, 0x07}, s, env);   // lock add [rdi],eax
    EXPECT_EQ(env.get<std::uint32_t>(0x10100), 115u);
    EXPECT_EQ(env.cmpxchgs, 2);
    run_ok({0x01, 0x07}, s, env);   // without LOCK: plain read and write
    EXPECT_EQ(env.cmpxchgs, 2);
    EXPECT_EQ(env.get<std::uint32_t>(0x10100), 120u);
    run_ok({0x87, 0x07}, s, env);   // xchg with memory is always locked
    EXPECT_EQ(env.cmpxchgs, 3);
    EXPECT_EQ(s.gpr[rax], 120u);
    EXPECT_EQ(env.get<std::uint32_t>(0x10100), 5u);
}

TEST(IntAlu, LockOnlyOnMemoryReadModifyWrite) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rdi] = 0x10100;
    EXPECT_EQ(run({0xf0, 0x01, 0xc0}, s, env).fault.vector, 6);         // lock add eax,eax
    EXPECT_EQ(run({0xf0, 0x39, 0x07}, s, env).fault.vector, 6);         // lock cmp [rdi],eax
    EXPECT_EQ(run({0xf0, 0x8b, 0x07}, s, env).fault.vector, 6);         // lock mov
    run_ok({0xf0, 0x48, 0x0f, 0xc1, 0x07}, s, env);                     // lock xadd
    run_ok({0xf0, 0x0f, 0xb1, 0x0f}, s, env);                           // lock cmpxchg
    run_ok({0xf0, 0x0f, 0xba, 0x2f, 0x03}, s, env);                     // lock bts [rdi],3
    run_ok({0xf0, 0xf6, 0x1f}, s, env);                                 // lock neg byte [rdi]
}

TEST(IntAlu, FaultingStoreLeavesEverythingAsItWas) {
    MemEnv env;
    env.ro_begin = 0x10100, env.ro_end = 0x10200;
    CpuState s = cpu64();
    s.gpr[rdi] = 0x10100;
    s.gpr[rax] = 0xffffffff;
    env.put<std::uint32_t>(0x10100, 1);
    s.rflags = 0x2;
    CpuState const before = s;
    for (Bytes const& b : {Bytes{0x01, 0x07}, Bytes{0xf0, 0x01, 0x07}, Bytes{0x0f, 0xc1, 0x07}, Bytes{0xff, 0x07},
                           Bytes{0x0f, 0xba, 0x2f, 0x01}, Bytes{0xd1, 0x27}, Bytes{0x0f, 0xb1, 0x07}, Bytes{0x87, 0x07}}) {
        auto r = run(b, s, env);
        EXPECT_EQ(r.outcome, Outcome::fault) << r.what;
        EXPECT_EQ(r.fault.vector, 14) << r.what;
        EXPECT_EQ(std::memcmp(&s, &before, sizeof s), 0) << r.what;
    }
    EXPECT_EQ(env.get<std::uint32_t>(0x10100), 1u);
}

TEST(IntAlu, MemoryFormsAndSizes) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rbx] = 0x10100;
    env.put<std::uint64_t>(0x10100, 0x00000000ffffffffull);
    run_ok({0x83, 0x03, 0x01}, s, env);   // add dword [rbx],1
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0u);
    EXPECT_EQ(s.rflags & (cf | zf | of), cf | zf);
    run_ok({0x66, 0x83, 0x2b, 0x01}, s, env);   // sub word [rbx],1
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0xffffu);
    EXPECT_EQ(s.rflags & (cf | zf | sf), cf | sf);
    run_ok({0x48, 0xf7, 0x1b}, s, env);   // neg qword [rbx]
    EXPECT_EQ(env.get<std::uint64_t>(0x10100), 0xffffffffffff0001ull);
    s.gpr[rcx] = 0x10000;
    run_ok({0x48, 0x3b, 0x0b}, s, env);   // cmp rcx,[rbx]
    EXPECT_EQ(s.rflags & (cf | zf), cf);
}

TEST(IntMulDiv, DivideErrorsLeaveStateAlone) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rax] = 7;
    s.gpr[rdx] = 0;
    s.gpr[rcx] = 0;
    CpuState const before = s;
    auto r = run({0xf7, 0xf1}, s, env);   // div ecx
    EXPECT_EQ(r.fault.vector, 0);
    EXPECT_EQ(std::memcmp(&s, &before, sizeof s), 0);
    s.gpr[rdx] = 1, s.gpr[rcx] = 1;
    EXPECT_EQ(run({0xf7, 0xf1}, s, env).fault.vector, 0);   // quotient does not fit
    s.gpr[rax] = 0x8000000000000000ull, s.gpr[rdx] = ~0ull, s.gpr[rcx] = ~0ull;
    EXPECT_EQ(run({0x48, 0xf7, 0xf9}, s, env).fault.vector, 0);   // idiv: -2^63 / -1
    s.gpr[rax] = ~0ull - 6, s.gpr[rdx] = ~0ull, s.gpr[rcx] = 2;  // -7 / 2
    run_ok({0x48, 0xf7, 0xf9}, s, env);
    EXPECT_EQ(s.gpr[rax], ~0ull - 2);   // -3
    EXPECT_EQ(s.gpr[rdx], ~0ull);       // remainder -1
}

TEST(IntBits, RegisterOffsetReachesOutsideTheOperand) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rdi] = 0x10100;
    s.gpr[rax] = 0xffffffff;   // bit offset -1: bit 31 of the dword below
    run_ok({0x0f, 0xab, 0x07}, s, env);   // bts [rdi],eax
    EXPECT_EQ(env.get<std::uint32_t>(0x100fc), 0x80000000u);
    EXPECT_EQ(s.rflags & cf, 0u);
    s.gpr[rax] = 67;
    run_ok({0x48, 0x0f, 0xab, 0x07}, s, env);   // bts [rdi],rax: qword 1, bit 3
    EXPECT_EQ(env.get<std::uint64_t>(0x10108), 8u);
    run_ok({0x48, 0x0f, 0xa3, 0x07}, s, env);   // bt
    EXPECT_EQ(s.rflags & cf, cf);
    run_ok({0x0f, 0xba, 0x37, 0x23}, s, env);   // btr dword [rdi+0],35 -> bit 3 of [rdi]
    EXPECT_EQ(env.get<std::uint32_t>(0x10100), 0u);
}

TEST(IntData, MovForms) {
    MemEnv env;
    CpuState s = cpu64();
    env.put<std::uint64_t>(0x10200, 0x1122334455667788ull);
    run_ok({0x48, 0xa1, 0x00, 0x02, 0x01, 0, 0, 0, 0, 0}, s, env);   // movabs rax,[0x10200]
    EXPECT_EQ(s.gpr[rax], 0x1122334455667788ull);
    run_ok({0xa2, 0x08, 0x02, 0x01, 0, 0, 0, 0, 0}, s, env);         // movabs [0x10208],al
    EXPECT_EQ(env.get<std::uint8_t>(0x10208), 0x88u);
    s.gpr[rbx] = 0x10200, s.gpr[rax] = 3;
    run_ok({0xd7}, s, env);   // xlat
    EXPECT_EQ(s.gpr[rax], 0x55u);
    s.gpr[rsi] = 0x10200;
    run_ok({0x48, 0x8d, 0x44, 0x9e, 0x10}, s, env);   // lea rax,[rsi+rbx*4+0x10]
    EXPECT_EQ(s.gpr[rax], 0x10200u + 0x10200u * 4 + 0x10);
    run_ok({0x67, 0x8d, 0x04, 0x1e}, s, env);          // lea eax,[esi+ebx]
    EXPECT_EQ(s.gpr[rax], 0x20400u);
    run_ok({0x48, 0x0f, 0x38, 0xf0, 0x06}, s, env);    // movbe rax,[rsi]
    EXPECT_EQ(s.gpr[rax], 0x8877665544332211ull);
    run_ok({0x48, 0xc7, 0x06, 0xfe, 0xff, 0xff, 0xff}, s, env);   // mov qword [rsi],-2
    EXPECT_EQ(env.get<std::uint64_t>(0x10200), ~1ull);
    s.gpr[rax] = 0xffffffff00000000ull;
    s.rflags = 0x2;
    run_ok({0x0f, 0x44, 0x06}, s, env);   // cmovz eax,[rsi]: false, still zero-extends
    EXPECT_EQ(s.gpr[rax], 0u);
    EXPECT_EQ(run({0x0f, 0x0b}, s, env).fault.vector, 6);   // ud2
    run_ok({0x0f, 0x1f, 0x44, 0x00, 0x00}, s, env);         // nop dword [rax+rax]
    run_ok({0xf3, 0x90}, s, env);                           // pause
    s.gpr[8] = 5, s.gpr[rax] = 7;
    run_ok({0x41, 0x90}, s, env);                           // xchg r8d,eax
    EXPECT_EQ(s.gpr[rax], 5u);
    EXPECT_EQ(s.gpr[8], 7u);
}

TEST(IntFlow, PushPopCallRet) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rsp] = 0x10800;
    s.gpr[rbx] = 0x1234;
    run_ok({0x53}, s, env);   // push rbx
    EXPECT_EQ(s.gpr[rsp], 0x107f8u);
    EXPECT_EQ(env.get<std::uint64_t>(0x107f8), 0x1234u);
    run_ok({0x54}, s, env);   // push rsp: the old value
    EXPECT_EQ(env.get<std::uint64_t>(0x107f0), 0x107f8u);
    run_ok({0x66, 0x6a, 0xff}, s, env);   // push word -1
    EXPECT_EQ(s.gpr[rsp], 0x107eeu);
    EXPECT_EQ(env.get<std::uint16_t>(0x107ee), 0xffffu);
    run_ok({0x66, 0x58}, s, env);         // pop ax
    EXPECT_EQ(s.gpr[rax] & 0xffff, 0xffffu);
    run_ok({0x8f, 0x44, 0x24, 0x00}, s, env);   // pop [rsp+0]: address after the increment
    EXPECT_EQ(s.gpr[rsp], 0x107f8u);
    EXPECT_EQ(env.get<std::uint64_t>(0x107f8), 0x107f8u);
    run_ok({0x41, 0x5c}, s, env);         // pop r12
    EXPECT_EQ(s.gpr[12], 0x107f8u);

    s.rip = 0x10000;
    auto r = emulate(Bytes{0xe8, 0x10, 0x00, 0x00, 0x00}, s, env);   // call +0x10
    ASSERT_EQ(r.outcome, Outcome::done);
    EXPECT_EQ(s.rip, 0x10015u);
    EXPECT_EQ(env.get<std::uint64_t>(s.gpr[rsp]), 0x10005u);
    r = emulate(Bytes{0xc2, 0x08, 0x00}, s, env);   // ret 8
    ASSERT_EQ(r.outcome, Outcome::done);
    EXPECT_EQ(s.rip, 0x10005u);
    EXPECT_EQ(s.gpr[rsp], 0x10808u);

    s.gpr[rax] = 0x0000800000000000ull;   // not canonical
    CpuState const before = s;
    r = run({0xff, 0xd0}, s, env);   // call rax
    EXPECT_EQ(r.fault.vector, 13);
    EXPECT_TRUE(r.fault.has_error_code);
    EXPECT_EQ(std::memcmp(&s, &before, sizeof s), 0);
    EXPECT_EQ(run({0xff, 0xe0}, s, env).fault.vector, 13);   // jmp rax
    EXPECT_EQ(run({0x60}, s, env).fault.vector, 6);           // pusha in 64-bit code
}

TEST(IntFlow, ThirtyTwoBitCode) {
    MemEnv env;
    CpuState s = cpu32();
    s.seg[ss].attr = seg_attr::p | seg_attr::s | seg_attr::db | 3;
    s.gpr[rsp] = 0x10800;
    s.gpr[rax] = 0xffffffff;
    run_ok({0x40}, s, env);   // inc eax
    EXPECT_EQ(s.gpr[rax], 0u);
    EXPECT_EQ(s.rflags & (zf | cf), zf);
    s.gpr[rcx] = 0x11;
    run_ok({0x60}, s, env);   // pusha
    EXPECT_EQ(s.gpr[rsp], 0x107e0u);
    EXPECT_EQ(env.get<std::uint32_t>(0x107e0 + 24), 0x11u);   // ecx
    EXPECT_EQ(env.get<std::uint32_t>(0x107e0 + 12), 0x10800u);   // esp before
    s.gpr[rcx] = 0;
    run_ok({0x61}, s, env);   // popa
    EXPECT_EQ(s.gpr[rcx], 0x11u);
    EXPECT_EQ(s.gpr[rsp], 0x10800u);
    s.rip = 0xfffffff0;
    auto r = emulate(Bytes{0xeb, 0x20}, s, env);   // jmp wraps at 4G
    ASSERT_EQ(r.outcome, Outcome::done);
    EXPECT_EQ(s.rip, 0x12u);
    s.rip = 0x10000;
    s.gpr[rbp] = 0x12345678;
    run_ok({0xc8, 0x10, 0x00, 0x00}, s, env);   // enter 16,0
    EXPECT_EQ(s.gpr[rbp], 0x107fcu);
    EXPECT_EQ(s.gpr[rsp], 0x107ecu);
    run_ok({0xc9}, s, env);   // leave
    EXPECT_EQ(s.gpr[rbp], 0x12345678u);
    EXPECT_EQ(s.gpr[rsp], 0x10800u);
}

TEST(IntFlow, PopfPrivilege) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[rsp] = 0x10800;
    env.put<std::uint64_t>(0x10800, 0x3000 | 0x200 | 0x20000 | 0x40000 | 0x400 | cf);   // IOPL3 IF VM AC DF CF
    s.cpl = 3;
    s.rflags = 0x2;
    run_ok({0x9d}, s, env);
    EXPECT_EQ(s.rflags, 0x2 | 0x40000 | 0x400 | cf);   // IOPL, IF, VM kept
    s.gpr[rsp] = 0x10800;
    s.cpl = 0;
    run_ok({0x9d}, s, env);
    EXPECT_EQ(s.rflags, 0x2 | 0x3000 | 0x200 | 0x40000 | 0x400 | cf);
    run_ok({0x9c}, s, env);   // pushf
    EXPECT_EQ(env.get<std::uint64_t>(0x10800), s.rflags);
}

TEST(IntFlow, ConditionalAndLoop) {
    MemEnv env;
    CpuState s = cpu64();
    s.rflags = 0x2 | zf;
    auto r = emulate(Bytes{0x74, 0xfe}, s, env);   // jz $
    ASSERT_EQ(r.outcome, Outcome::done);
    EXPECT_EQ(s.rip, 0x10000u);
    r = emulate(Bytes{0x0f, 0x85, 0x00, 0x01, 0x00, 0x00}, s, env);   // jnz: not taken
    EXPECT_EQ(s.rip, 0x10006u);
    s.rip = 0x10000;
    s.gpr[rcx] = 0x100000000ull;
    r = emulate(Bytes{0x67, 0xe2, 0x10}, s, env);   // loop with ecx: 0 - 1, taken
    EXPECT_EQ(s.gpr[rcx], 0xffffffffu);
    EXPECT_EQ(s.rip, 0x10013u);
    s.gpr[rcx] = 0;
    s.rip = 0x10000;
    r = emulate(Bytes{0xe3, 0x10}, s, env);   // jrcxz
    EXPECT_EQ(s.rip, 0x10012u);
}

TEST(IntString, RepMovsBackwardAndOverlapping) {
    MemEnv env;
    CpuState s = cpu64();
    for (int i = 0; i < 16; ++i) env.put<std::uint8_t>(0x10100 + i, std::uint8_t(i + 1));
    s.rflags = 0x2 | df;
    s.gpr[rsi] = 0x1010f, s.gpr[rdi] = 0x1020f, s.gpr[rcx] = 16;
    run_ok({0xf3, 0xa4}, s, env);   // rep movsb, DF=1
    EXPECT_EQ(s.gpr[rcx], 0u);
    EXPECT_EQ(s.gpr[rsi], 0x100ffu);
    EXPECT_EQ(s.gpr[rdi], 0x101ffu);
    EXPECT_EQ(std::memcmp(env.at(0x10100), env.at(0x10200), 16), 0);
    s.rflags = 0x2;
    s.gpr[rsi] = 0x10100, s.gpr[rdi] = 0x10101, s.gpr[rcx] = 8;   // overlapping: smears byte 0
    run_ok({0xf3, 0xa4}, s, env);
    for (int i = 0; i < 9; ++i) EXPECT_EQ(env.get<std::uint8_t>(0x10100 + i), 1u);
}

TEST(IntString, LongRepRunsInChunks) {
    MemEnv env(0x10000, 0x10000);
    CpuState s = cpu64();
    s.gpr[rdi] = 0x10000, s.gpr[rcx] = 5000, s.gpr[rax] = 0x0101010101010101ull;
    auto r = emulate(Bytes{0xf3, 0x48, 0xab}, s, env);   // rep stosq
    ASSERT_EQ(r.outcome, Outcome::done);
    EXPECT_EQ(s.rip, 0x10000u);   // runs again
    EXPECT_EQ(s.gpr[rcx], 5000u - 4096);
    EXPECT_EQ(s.gpr[rdi], 0x10000u + 4096 * 8);
    r = emulate(Bytes{0xf3, 0x48, 0xab}, s, env);
    EXPECT_EQ(s.rip, 0x10003u);
    EXPECT_EQ(s.gpr[rcx], 0u);
    EXPECT_EQ(env.get<std::uint64_t>(0x10000 + 4999 * 8), 0x0101010101010101ull);
}

TEST(IntString, FaultMidRepKeepsCompletedIterations) {
    MemEnv env;
    env.ro_begin = 0x10204, env.ro_end = 0x10300;
    CpuState s = cpu64();
    s.gpr[rsi] = 0x10100, s.gpr[rdi] = 0x10200, s.gpr[rcx] = 10;
    auto r = run({0xf3, 0xa5}, s, env);   // rep movsd
    EXPECT_EQ(r.fault.vector, 14);
    EXPECT_EQ(s.rip, 0x10000u);
    EXPECT_EQ(s.gpr[rcx], 9u);
    EXPECT_EQ(s.gpr[rsi], 0x10104u);
    EXPECT_EQ(s.gpr[rdi], 0x10204u);
}

TEST(IntString, ScasAndCmps) {
    MemEnv env;
    CpuState s = cpu64();
    char const text[] = "hello, world";
    std::memcpy(env.at(0x10100), text, sizeof text);
    std::memcpy(env.at(0x10200), text, sizeof text);
    env.put<std::uint8_t>(0x10207, 'W');
    s.gpr[rdi] = 0x10100, s.gpr[rcx] = ~0ull, s.gpr[rax] = ',';
    run_ok({0xf2, 0xae}, s, env);   // repne scasb
    EXPECT_EQ(s.gpr[rdi], 0x10106u);
    EXPECT_EQ(s.gpr[rcx], ~0ull - 6);
    EXPECT_EQ(s.rflags & zf, zf);
    s.gpr[rsi] = 0x10100, s.gpr[rdi] = 0x10200, s.gpr[rcx] = 12;
    run_ok({0xf3, 0xa6}, s, env);   // repe cmpsb: stops after the difference
    EXPECT_EQ(s.gpr[rcx], 4u);
    EXPECT_EQ(s.gpr[rsi], 0x10108u);
    EXPECT_EQ(s.rflags & (zf | cf), 0u);   // 'w' > 'W'
    s.gpr[rsi] = 0x10100;
    run_ok({0x66, 0xad}, s, env);   // lodsw
    EXPECT_EQ(s.gpr[rax] & 0xffff, 0x6568u);
    s.gpr[rcx] = 0x100000000ull;   // a 32-bit counter of 0: nothing happens
    s.gpr[rdi] = 0x10300;
    run_ok({0x67, 0xf3, 0xaa}, s, env);
    EXPECT_EQ(s.gpr[rdi], 0x10300u);
}

} // namespace
} // namespace kxen::soft
