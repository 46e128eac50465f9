// x87: stack bookkeeping and control words by hand, then every supported register/memory form
// against the host CPU itself (the instruction's bytes run natively on the same FXSAVE image).
#include <sys/mman.h>
#include <cmath>
#include "soft/test_env.hpp"
#include "soft/xsave_area.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;
using test::cpu64;
using test::MemEnv;
using test::run;
using test::run_ok;

constexpr std::uint64_t mem_gva = 0x10100;

std::array<std::uint8_t, 10> f80(long double v) {
    std::array<std::uint8_t, 10> b;
    std::memcpy(b.data(), &v, 10);
    return b;
}
std::array<std::uint8_t, 10> st(CpuState const& s, unsigned i) {
    std::array<std::uint8_t, 10> b;
    std::memcpy(b.data(), s.fpr[i], 10);
    return b;
}
unsigned top(CpuState const& s) { return (s.fsw >> 11) & 7; }

// A stack holding vals[0] in ST(0), vals[1] in ST(1), ...
CpuState with_stack(std::initializer_list<long double> vals, std::uint16_t fcw = 0x037f) {
    CpuState s = cpu64();
    s.fcw = fcw;
    unsigned const n = static_cast<unsigned>(vals.size()), t = (8 - n) & 7;
    s.fsw = static_cast<std::uint16_t>(t << 11);
    unsigned i = 0;
    for (long double v : vals) {
        auto b = f80(v);
        std::memcpy(s.fpr[i], b.data(), 10);
        s.ftwx = static_cast<std::uint8_t>(s.ftwx | (1u << ((t + i) & 7)));
        ++i;
    }
    return s;
}

TEST(X87, Fld1PushesOne) {
    MemEnv env;
    CpuState s = cpu64();
    auto r = run_ok({0xd9, 0xe8}, s, env);
    EXPECT_EQ(r.what, "fld1");
    EXPECT_TRUE(r.xstate_changed);
    EXPECT_EQ(top(s), 7u);
    EXPECT_EQ(s.ftwx, 0x80);
    EXPECT_EQ(st(s, 0), f80(1.0L));
    EXPECT_EQ(s.fop, 0x1e8);   // d9 e8
    EXPECT_EQ(s.fip, 0x10000u);
    run_ok({0xd9, 0xee}, s, env);   // fldz
    EXPECT_EQ(top(s), 6u);
    EXPECT_EQ(s.ftwx, 0xc0);
    EXPECT_EQ(st(s, 0), f80(0.0L));
    EXPECT_EQ(st(s, 1), f80(1.0L));
}

TEST(X87, FstpM64AndM32) {
    MemEnv env;
    CpuState s = with_stack({1.5L, 2.0L});
    s.gpr[7] = mem_gva;
    run_ok({0xdd, 0x1f}, s, env);   // fstp qword [rdi]
    EXPECT_EQ(env.get<double>(mem_gva), 1.5);
    EXPECT_EQ(s.fdp, mem_gva);
    EXPECT_EQ(top(s), 7u);
    EXPECT_EQ(s.ftwx, 0x80);
    EXPECT_EQ(st(s, 0), f80(2.0L));
    run_ok({0xd9, 0x1f}, s, env);   // fstp dword [rdi]
    EXPECT_EQ(env.get<float>(mem_gva), 2.0f);
    EXPECT_EQ(s.ftwx, 0);
    EXPECT_EQ(top(s), 0u);
}

TEST(X87, FldFildFistpRoundTrip) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[6] = s.gpr[7] = mem_gva;
    env.put<std::int32_t>(mem_gva, -123456);
    run_ok({0xdb, 0x06}, s, env);   // fild dword [rsi]
    EXPECT_EQ(st(s, 0), f80(-123456.0L));
    run_ok({0xdf, 0x3f}, s, env);   // fistp qword [rdi]
    EXPECT_EQ(env.get<std::int64_t>(mem_gva), -123456);
    env.put<long double>(mem_gva, 3.25L);
    run_ok({0xdb, 0x2e}, s, env);   // fld tbyte [rsi]
    EXPECT_EQ(st(s, 0), f80(3.25L));
    run_ok({0xdb, 0x3f}, s, env);   // fstp tbyte [rdi]
    EXPECT_EQ(std::memcmp(env.at(mem_gva), f80(3.25L).data(), 10), 0);
    EXPECT_EQ(s.ftwx, 0);
}

TEST(X87, FxchSwaps) {
    MemEnv env;
    CpuState s = with_stack({1.0L, 2.0L, 3.0L, 4.0L});
    run_ok({0xd9, 0xcb}, s, env);   // fxch st(3)
    EXPECT_EQ(st(s, 0), f80(4.0L));
    EXPECT_EQ(st(s, 3), f80(1.0L));
    EXPECT_EQ(st(s, 1), f80(2.0L));
}

TEST(X87, FaddpFmulp) {
    MemEnv env;
    CpuState s = with_stack({1.5L, 2.0L, 10.0L});
    run_ok({0xde, 0xc1}, s, env);   // faddp st(1),st
    EXPECT_EQ(st(s, 0), f80(3.5L));
    EXPECT_EQ(st(s, 1), f80(10.0L));
    run_ok({0xde, 0xc9}, s, env);   // fmulp st(1),st
    EXPECT_EQ(st(s, 0), f80(35.0L));
    EXPECT_EQ(top(s), 7u);
    EXPECT_EQ(s.ftwx, 0x80);
}

TEST(X87, ControlAndStatusWords) {
    MemEnv env;
    CpuState s = with_stack({1.0L});
    s.gpr[4] = mem_gva;
    run_ok({0xd9, 0x3c, 0x24}, s, env);   // fnstcw [rsp]
    EXPECT_EQ(env.get<std::uint16_t>(mem_gva), 0x037f);
    env.put<std::uint16_t>(mem_gva, 0x0c7f);   // RC = toward zero
    run_ok({0xd9, 0x2c, 0x24}, s, env);   // fldcw [rsp]
    EXPECT_EQ(s.fcw, 0x0c7f);
    env.put<std::uint16_t>(mem_gva, 0xffff);
    run_ok({0xd9, 0x2c, 0x24}, s, env);
    EXPECT_EQ(s.fcw, 0x1f7f);   // reserved bits as the hardware shows them
    s.fcw = 0x037f;
    run_ok({0xdd, 0x3c, 0x24}, s, env);   // fnstsw [rsp]
    EXPECT_EQ(env.get<std::uint16_t>(mem_gva), s.fsw);
    s.gpr[0] = 0xffffffffffffffff;
    run_ok({0xdf, 0xe0}, s, env);         // fnstsw ax
    EXPECT_EQ(s.gpr[0], 0xffffffffffff0000 | s.fsw);
}

TEST(X87, FninitKeepsPhysicalRegisters) {
    MemEnv env;
    CpuState s = with_stack({1.0L, 2.0L});   // TOP = 6: R6 = 1.0, R7 = 2.0
    s.fcw = 0x0c7f;
    s.fsw |= 0x21;
    run_ok({0xdb, 0xe3}, s, env);
    EXPECT_EQ(s.fcw, 0x037f);
    EXPECT_EQ(s.fsw, 0);
    EXPECT_EQ(s.ftwx, 0);
    EXPECT_EQ(st(s, 6), f80(1.0L));   // TOP = 0, so ST(6) is R6
    EXPECT_EQ(st(s, 7), f80(2.0L));
}

TEST(X87, MaskedStackOverflowPushesIndefinite) {
    MemEnv env;
    CpuState s = with_stack({1, 2, 3, 4, 5, 6, 7, 8});
    run_ok({0xd9, 0xe8}, s, env);
    EXPECT_EQ(s.fsw & 0x3ff, 0x241u);   // C1 | SF | IE
    std::array<std::uint8_t, 10> const indefinite{0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff};
    EXPECT_EQ(st(s, 0), indefinite);
}

TEST(X87, MaskedUnderflowStoresIndefinite) {
    MemEnv env;
    CpuState s = cpu64();
    s.gpr[7] = mem_gva;
    run_ok({0xdd, 0x1f}, s, env);   // fstp qword [rdi] of an empty stack
    EXPECT_EQ(env.get<std::uint64_t>(mem_gva), 0xfff8000000000000u);
    EXPECT_EQ(s.fsw & 0x3ff, 0x41u);
}

TEST(X87, UnmaskedExceptionIsNotEmulated) {
    MemEnv env;
    CpuState s = with_stack({0.0L, 1.0L}, 0x037b);   // ZE unmasked
    auto r = run({0xde, 0xf9}, s, env);               // fdivp st(1),st: st(1) = 1.0 / 0.0
    EXPECT_EQ(r.outcome, Outcome::unsupported) << r.what;
    EXPECT_EQ(s.rip, 0x10000u);
}

TEST(X87, TsIsNm) {
    MemEnv env;
    CpuState s = cpu64();
    s.cr0 |= 8;
    auto r = run({0xd9, 0xe8}, s, env);
    EXPECT_EQ(r.outcome, Outcome::fault);
    EXPECT_EQ(r.fault.vector, 7);
    r = run({0x9b}, s, env);   // fwait: #NM needs MP too, and MP is set
    EXPECT_EQ(r.fault.vector, 7);
    s.cr0 &= ~8ull;
    s.fsw = 0x80;
    EXPECT_EQ(run({0x9b}, s, env).fault.vector, 16);
    s.fsw = 0;
    run_ok({0x9b}, s, env);
}

// ---- against the host CPU ----

// Runs `insn` natively: rflags from [rdi+512]; fxrstor64 [rdi]; insn; fxsave64 [rdi]; rflags to [rdi+512]; with rsi
// pointing at a 16-byte operand buffer. The host's own x87 state is saved around it.
class HostCpu {
public:
    HostCpu() {
        page_ = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page_ == MAP_FAILED) page_ = nullptr;
    }
    ~HostCpu() {
        if (page_) ::munmap(page_, 4096);
    }
    bool ok() const { return page_ != nullptr; }

    void run(Bytes const& insn, CpuState& s, std::uint8_t* mem) {
        Bytes code{0xff, 0xb7, 0x00, 0x02, 0x00, 0x00,         // push qword [rdi+0x200]
                   0x9d,                                       // popfq
                   0x48, 0x0f, 0xae, 0x0f};                    // fxrstor64 [rdi]
        code.insert(code.end(), insn.begin(), insn.end());
        code.insert(code.end(), {0x48, 0x0f, 0xae, 0x07,       // fxsave64 [rdi]
                                 0x9c, 0x58,                   // pushfq; pop rax
                                 0x48, 0x89, 0x87, 0x00, 0x02, 0x00, 0x00,   // mov [rdi+0x200],rax
                                 0xc3});
        std::memcpy(page_, code.data(), code.size());
        alignas(64) std::uint8_t area[528] = {};
        put_legacy(s, area, {true, true, true, true, 16});
        std::uint64_t const guest_flags = s.rflags & 0x8d5;   // only the arithmetic flags
        std::memcpy(area + 512, &guest_flags, 8);
        alignas(16) std::uint8_t host_saved[512];
        asm volatile("fxsave %0" : "=m"(host_saved));
        // SAFETY: page_ holds the code just written: no stack use beyond the call, returns.
        reinterpret_cast<void (*)(std::uint8_t*, std::uint8_t*)>(page_)(area, mem);
        asm volatile("fxrstor %0" : : "m"(host_saved));
        get_legacy(s, area, {true, true, true, true, 16});
        std::uint64_t fl;
        std::memcpy(&fl, area + 512, 8);
        s.rflags = (s.rflags & ~0x8d5ull) | (fl & 0x8d5);
    }

private:
    void* page_ = nullptr;
};

struct HostCase {
    Bytes insn;
    char const* what;
};

std::vector<long double> const samples = {
    1.0L, -2.5L, 3.14159265358979323846L, 1.0L / 3.0L, 0.0L, -0.0L, 1e300L, 1e-300L,
    1e4000L, 0x1p-16440L /* denormal */, INFINITY, -INFINITY, NAN, 7.0L, -1e10L, 2.5L,
};

void PrintTo(HostCase const& c, std::ostream* os) { *os << c.what; }

class X87Host : public ::testing::TestWithParam<HostCase> {};

// Every pair of sample values, four rounding modes and two precisions, stacks of 2 and 8;
// FSW (flags, C0-C3, TOP), tags, registers, memory and EFLAGS must all match the host CPU.
TEST_P(X87Host, MatchesHost) {
    HostCpu host;
    if (!host.ok()) GTEST_SKIP() << "no executable memory for the host cross-check";
    auto const& c = GetParam();
    unsigned mismatches = 0;
    for (std::uint16_t fcw : {0x037f, 0x077f, 0x0b7f, 0x0f7f, 0x027f}) {
        for (std::size_t i = 0; i < samples.size() && mismatches < 5; ++i) {
            for (std::size_t j = 0; j < samples.size(); j += 3) {
                long double const a = samples[i], b = samples[j];
                for (bool full : {false, true}) {
                    CpuState s = full ? with_stack({a, b, 1, 2, 3, 4, 5, 6}, fcw) : with_stack({a, b}, fcw);
                    MemEnv env;
                    std::uint8_t mem[16];
                    long double const m = samples[(i + j) % samples.size()];
                    std::memcpy(mem, &m, 10);   // a valid f32/f64/i16/i32/i64/f80 all at once
                    mem[10] = mem[11] = 0;
                    std::memcpy(env.at(mem_gva), mem, 16);
                    s.gpr[6] = mem_gva;   // rsi for the emulator; the host gets &mem
                    CpuState h = s;
                    host.run(c.insn, h, mem);
                    Result r = run(c.insn, s, env);
                    bool const same = r.outcome == Outcome::done && s.fsw == h.fsw && s.ftwx == h.ftwx &&
                                      std::memcmp(s.fpr, h.fpr, sizeof s.fpr) == 0 &&
                                      std::memcmp(env.at(mem_gva), mem, 16) == 0 && s.rflags == h.rflags;
                    if (!same && ++mismatches <= 5)
                        ADD_FAILURE() << c.what << " a=" << static_cast<double>(a) << " b=" << static_cast<double>(b)
                                      << " fcw=" << std::hex << fcw << " full=" << full << ": " << r.what
                                      << " fsw " << s.fsw << " vs host " << h.fsw << ", tags " << int(s.ftwx)
                                      << " vs " << int(h.ftwx) << ", rflags " << s.rflags << " vs " << h.rflags;
                }
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Forms, X87Host,
    ::testing::Values(
        HostCase{{0xd9, 0xe8}, "fld1"}, HostCase{{0xd9, 0xee}, "fldz"}, HostCase{{0xd9, 0xeb}, "fldpi"},
        HostCase{{0xd9, 0xea}, "fldl2e"}, HostCase{{0xd9, 0xec}, "fldlg2"},
        HostCase{{0xde, 0xc1}, "faddp"}, HostCase{{0xde, 0xc9}, "fmulp"}, HostCase{{0xde, 0xe9}, "de e9"},
        HostCase{{0xde, 0xe1}, "de e1"}, HostCase{{0xde, 0xf9}, "de f9"}, HostCase{{0xde, 0xf1}, "de f1"},
        HostCase{{0xd8, 0xc1}, "fadd st,st(1)"}, HostCase{{0xd8, 0xe1}, "fsub st,st(1)"},
        HostCase{{0xd8, 0xe9}, "fsubr st,st(1)"}, HostCase{{0xd8, 0xf1}, "fdiv st,st(1)"},
        HostCase{{0xd8, 0xf9}, "fdivr st,st(1)"}, HostCase{{0xdc, 0xe1}, "dc e1"}, HostCase{{0xdc, 0xe9}, "dc e9"},
        HostCase{{0xdc, 0xf1}, "dc f1"}, HostCase{{0xdc, 0xf9}, "dc f9"}, HostCase{{0xdc, 0xc1}, "fadd st(1),st"},
        HostCase{{0xd8, 0xd1}, "fcom st(1)"}, HostCase{{0xd8, 0xd9}, "fcomp st(1)"}, HostCase{{0xde, 0xd9}, "fcompp"},
        HostCase{{0xdd, 0xe1}, "fucom st(1)"}, HostCase{{0xdd, 0xe9}, "fucomp st(1)"}, HostCase{{0xda, 0xe9}, "fucompp"},
        HostCase{{0xdb, 0xf1}, "fcomi"}, HostCase{{0xdb, 0xe9}, "fucomi"}, HostCase{{0xdf, 0xf1}, "fcomip"},
        HostCase{{0xdf, 0xe9}, "fucomip"}, HostCase{{0xd9, 0xe4}, "ftst"},
        HostCase{{0xd9, 0xc9}, "fxch st(1)"}, HostCase{{0xd9, 0xcb}, "fxch st(3)"}, HostCase{{0xd9, 0xc2}, "fld st(2)"},
        HostCase{{0xdd, 0xd8}, "fstp st(0)"}, HostCase{{0xdd, 0xda}, "fstp st(2)"}, HostCase{{0xdd, 0xd1}, "fst st(1)"},
        HostCase{{0xdd, 0xc1}, "ffree st(1)"}, HostCase{{0xd9, 0xe0}, "fchs"}, HostCase{{0xd9, 0xe1}, "fabs"},
        HostCase{{0xd9, 0xf7}, "fincstp"}, HostCase{{0xd9, 0xf6}, "fdecstp"}, HostCase{{0xdb, 0xe2}, "fnclex"},
        HostCase{{0xdb, 0xe3}, "fninit"}, HostCase{{0xd9, 0xd0}, "fnop"},
        HostCase{{0xd9, 0x06}, "fld dword [rsi]"}, HostCase{{0xdd, 0x06}, "fld qword [rsi]"},
        HostCase{{0xdb, 0x2e}, "fld tbyte [rsi]"}, HostCase{{0xdf, 0x06}, "fild word [rsi]"},
        HostCase{{0xdb, 0x06}, "fild dword [rsi]"}, HostCase{{0xdf, 0x2e}, "fild qword [rsi]"},
        HostCase{{0xd9, 0x16}, "fst dword [rsi]"}, HostCase{{0xd9, 0x1e}, "fstp dword [rsi]"},
        HostCase{{0xdd, 0x16}, "fst qword [rsi]"}, HostCase{{0xdd, 0x1e}, "fstp qword [rsi]"},
        HostCase{{0xdb, 0x3e}, "fstp tbyte [rsi]"}, HostCase{{0xdf, 0x16}, "fist word [rsi]"},
        HostCase{{0xdf, 0x1e}, "fistp word [rsi]"}, HostCase{{0xdb, 0x16}, "fist dword [rsi]"},
        HostCase{{0xdb, 0x1e}, "fistp dword [rsi]"}, HostCase{{0xdf, 0x3e}, "fistp qword [rsi]"},
        HostCase{{0xdf, 0x0e}, "fisttp word [rsi]"}, HostCase{{0xdb, 0x0e}, "fisttp dword [rsi]"},
        HostCase{{0xdd, 0x0e}, "fisttp qword [rsi]"},
        HostCase{{0xd8, 0x06}, "fadd dword [rsi]"}, HostCase{{0xd8, 0x36}, "fdiv dword [rsi]"},
        HostCase{{0xdc, 0x0e}, "fmul qword [rsi]"}, HostCase{{0xdc, 0x2e}, "fsubr qword [rsi]"},
        HostCase{{0xda, 0x36}, "fidiv dword [rsi]"}, HostCase{{0xda, 0x06}, "fiadd dword [rsi]"},
        HostCase{{0xde, 0x0e}, "fimul word [rsi]"}, HostCase{{0xde, 0x26}, "fisub word [rsi]"},
        HostCase{{0xd8, 0x16}, "fcom dword [rsi]"}, HostCase{{0xdc, 0x1e}, "fcomp qword [rsi]"},
        HostCase{{0xda, 0x16}, "ficom dword [rsi]"}, HostCase{{0xde, 0x1e}, "ficomp word [rsi]"},
        HostCase{{0xd9, 0x2e}, "fldcw [rsi]"}, HostCase{{0xd9, 0x3e}, "fnstcw [rsi]"},
        HostCase{{0xdd, 0x3e}, "fnstsw [rsi]"}));

} // namespace
} // namespace kxen::soft
