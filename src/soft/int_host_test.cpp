// Register forms of the integer instructions against the host CPU: each case runs once in the
// emulator and once natively (the bytes copied into an executable page between a register
// load and store), and the registers and every flag the SDM defines for it must agree.
#include <sys/mman.h>
#include <random>
#include "soft/test_env.hpp"

namespace kxen::soft {
namespace {

using test::Bytes;
using test::cpu64;
using test::MemEnv;

constexpr std::uint64_t all_flags = 0x8d5, cf = 1, pf = 4, af = 0x10, zf = 0x40, sf = 0x80, of = 0x800;

// rax rcx rdx rbx rsi rdi, rflags
struct HostRegs {
    std::uint64_t r[6];
    std::uint64_t flags;
};
constexpr unsigned host_reg[6] = {0, 1, 2, 3, 6, 7};

class Host {
public:
    Host() {
        mem_ = static_cast<std::uint8_t*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    }
    ~Host() { munmap(mem_, 4096); }
    bool ok() const { return mem_ != MAP_FAILED; }

    void run(Bytes const& insn, HostRegs& regs) {
        Bytes code = {0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57,   // push callee-saved
                      0x49, 0x89, 0xff,                                             // mov r15,rdi
                      0x41, 0xff, 0x77, 0x30, 0x9d,                                 // push [r15+48]; popf
                      0x49, 0x8b, 0x07, 0x49, 0x8b, 0x4f, 0x08, 0x49, 0x8b, 0x57, 0x10,
                      0x49, 0x8b, 0x5f, 0x18, 0x49, 0x8b, 0x77, 0x20, 0x49, 0x8b, 0x7f, 0x28};
        code.insert(code.end(), insn.begin(), insn.end());
        Bytes const tail = {0x49, 0x89, 0x07, 0x49, 0x89, 0x4f, 0x08, 0x49, 0x89, 0x57, 0x10,
                            0x49, 0x89, 0x5f, 0x18, 0x49, 0x89, 0x77, 0x20, 0x49, 0x89, 0x7f, 0x28,
                            0x9c, 0x41, 0x8f, 0x47, 0x30,                             // pushf; pop [r15+48]
                            0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3};
        code.insert(code.end(), tail.begin(), tail.end());
        std::memcpy(mem_, code.data(), code.size());
        __builtin___clear_cache(reinterpret_cast<char*>(mem_), reinterpret_cast<char*>(mem_ + code.size()));
        reinterpret_cast<void (*)(HostRegs*)>(mem_)(&regs);
    }

private:
    std::uint8_t* mem_;
};

struct Checker {
    Host host;
    MemEnv env;
    std::mt19937_64 rng{12345};
    int compared = 0;

    std::uint64_t value() {
        switch (rng() % 6) {   // edge values often, random ones otherwise
        case 0: return 0;
        case 1: return ~0ull >> (rng() % 64);
        case 2: return 1ull << (rng() % 64);
        case 3: return 0x8000000000000000ull >> (rng() % 64 & ~7ull);
        default: return rng();
        }
    }

    // Runs insn on random inputs; mask(regs before) gives the flags to compare.
    template <typename Mask> void check_by(Bytes const& insn, Mask mask, int rounds = 40) {
        for (int i = 0; i < rounds; ++i) {
            HostRegs h{};
            for (auto& r : h.r) r = value();
            h.flags = 0x2 | (rng() & all_flags);
            CpuState s = cpu64();
            for (unsigned k = 0; k < 6; ++k) s.gpr[host_reg[k]] = h.r[k];
            s.rflags = h.flags;
            HostRegs const in = h;
            Result const res = emulate(insn, s, env);
            if (res.outcome == Outcome::fault && res.fault.vector == 0) continue;   // #DE: not on the host
            ASSERT_EQ(res.outcome, Outcome::done) << res.what << " " << describe(insn);
            host.run(insn, h);
            std::uint64_t const m = mask(in);
            for (unsigned k = 0; k < 6; ++k)
                ASSERT_EQ(s.gpr[host_reg[k]], h.r[k]) << describe(insn) << " reg " << host_reg[k] << " round " << i;
            ASSERT_EQ(s.rflags & m, h.flags & m) << describe(insn) << " flags in " << std::hex << in.flags
                                                  << " rax " << in.r[0] << " rcx " << in.r[1];
            ++compared;
        }
    }
    void check(Bytes const& insn, std::uint64_t m, int rounds = 40) {
        check_by(insn, [m](HostRegs const&) { return m; }, rounds);
    }

    // A ModRM register operand that is not rsp/rbp (bytes may use ah..bh).
    std::uint8_t reg(bool byte) {
        static constexpr std::uint8_t regs[6] = {0, 1, 2, 3, 6, 7};
        return byte ? static_cast<std::uint8_t>(rng() % 8) : regs[rng() % 6];
    }
    std::uint8_t modrm(unsigned r, unsigned rm) { return static_cast<std::uint8_t>(0xc0 | (r << 3) | rm); }
};

// Prefixes choosing 32-, 16- and 64-bit operands.
Bytes const sizes[3] = {{}, {0x66}, {0x48}};

Bytes cat(Bytes a, Bytes const& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

TEST(IntHost, Alu) {
    Checker c;
    ASSERT_TRUE(c.host.ok());
    for (unsigned op = 0; op < 8; ++op) {
        std::uint64_t const m = op == 1 || op == 4 || op == 6 ? all_flags & ~af : all_flags;
        for (int rep = 0; rep < 6; ++rep) {
            for (auto const& p : sizes) {
                c.check(cat(p, {std::uint8_t(op * 8 + 1), c.modrm(c.reg(false), c.reg(false))}), m, 10);
                c.check(cat(p, {std::uint8_t(op * 8 + 3), c.modrm(c.reg(false), c.reg(false))}), m, 10);
                c.check(cat(p, {0x83, c.modrm(op, c.reg(false)), std::uint8_t(c.rng())}), m, 10);
                Bytes const iz = p == Bytes{0x66} ? Bytes{0x01, 0x80} : Bytes{0x80, 0xff, 0x00, 0x80};
                c.check(cat(cat(p, {0x81, c.modrm(op, c.reg(false))}), iz), m, 10);
                c.check(cat(cat(p, {std::uint8_t(op * 8 + 5)}), iz), m, 10);
            }
            c.check({std::uint8_t(op * 8), c.modrm(c.reg(true), c.reg(true))}, m, 10);
            c.check({0x40, std::uint8_t(op * 8 + 2), c.modrm(c.reg(false), c.reg(false))}, m, 10);
            c.check({0x80, c.modrm(op, c.reg(true)), std::uint8_t(c.rng())}, m, 10);
            c.check({std::uint8_t(op * 8 + 4), std::uint8_t(c.rng())}, m, 10);
        }
    }
    EXPECT_GT(c.compared, 1000);
}

TEST(IntHost, UnaryAndTest) {
    Checker c;
    for (auto const& p : sizes) {
        for (unsigned r : {0u, 1u, 2u, 3u, 6u, 7u}) {
            c.check(cat(p, {0xff, c.modrm(0, r)}), all_flags);          // inc
            c.check(cat(p, {0xff, c.modrm(1, r)}), all_flags);          // dec
            c.check(cat(p, {0xf7, c.modrm(2, r)}), all_flags);          // not
            c.check(cat(p, {0xf7, c.modrm(3, r)}), all_flags);          // neg
            c.check(cat(p, {0x85, c.modrm(c.reg(false), r)}), all_flags & ~af);
            c.check(cat(p, p == Bytes{0x66} ? Bytes{0xf7, c.modrm(0, r), 0x0f, 0xf0} : Bytes{0xf7, c.modrm(0, r), 0x0f, 0xf0, 0xff, 0xff}), all_flags & ~af);
        }
    }
    for (unsigned r = 0; r < 8; ++r) {
        c.check({0xfe, c.modrm(0, r)}, all_flags);
        c.check({0xfe, c.modrm(1, r)}, all_flags);
        c.check({0xf6, c.modrm(3, r)}, all_flags);
        c.check({0xf6, c.modrm(2, r)}, all_flags);
    }
    c.check({0xa8, 0x81}, all_flags & ~af);
    c.check({0x48, 0xa9, 0x00, 0x00, 0x00, 0x80}, all_flags & ~af);
}

TEST(IntHost, MulDiv) {
    Checker c;
    for (auto const& p : sizes) {
        for (unsigned r : {1u, 3u, 6u}) {
            c.check(cat(p, {0xf7, c.modrm(4, r)}), cf | of, 80);
            c.check(cat(p, {0xf7, c.modrm(5, r)}), cf | of, 80);
            c.check(cat(p, {0xf7, c.modrm(6, r)}), 0, 200);
            c.check(cat(p, {0xf7, c.modrm(7, r)}), 0, 200);
            c.check(cat(p, {0x0f, 0xaf, c.modrm(c.reg(false), r)}), cf | of, 80);
            c.check(cat(p, {0x6b, c.modrm(c.reg(false), r), 0x85}), cf | of, 80);
            c.check(cat(p, p == Bytes{0x66} ? Bytes{0x69, c.modrm(c.reg(false), r), 0x01, 0x80} : Bytes{0x69, c.modrm(c.reg(false), r), 0x01, 0x00, 0x01, 0x80}), cf | of, 80);
        }
    }
    for (unsigned r : {1u, 3u, 4u, 6u}) {
        c.check({0xf6, c.modrm(4, r)}, cf | of, 80);
        c.check({0xf6, c.modrm(5, r)}, cf | of, 80);
        c.check({0xf6, c.modrm(6, r)}, 0, 200);
        c.check({0xf6, c.modrm(7, r)}, 0, 200);
    }
}

// Flags a shift defines for a given masked count.
std::uint64_t shift_mask(unsigned kind, unsigned count, unsigned bits) {
    if (count == 0) return all_flags;
    std::uint64_t m = count == 1 ? of : 0;
    if (kind < 4) return m | cf;
    m |= sf | zf | pf;
    if (kind == 7 || count < bits) m |= cf;
    return m;
}

TEST(IntHost, ShiftsAndRotates) {
    Checker c;
    struct { Bytes p; unsigned bits; } const forms[4] = {{{}, 32}, {{0x66}, 16}, {{0x48}, 64}, {{}, 8}};
    for (auto const& f : forms) {
        std::uint8_t const op = f.bits == 8 ? 0xc0 : 0xc1, opcl = f.bits == 8 ? 0xd2 : 0xd3;
        for (unsigned kind = 0; kind < 8; ++kind) {
            for (unsigned count : {0u, 1u, 2u, 7u, 8u, 9u, 15u, 16u, 17u, 18u, 31u, 32u, 33u, 63u, 64u, 65u}) {
                unsigned const masked = count & (f.bits == 64 ? 63 : 31);
                auto m = shift_mask(kind, masked, f.bits);
                c.check(cat(f.p, {op, c.modrm(kind, c.reg(f.bits == 8)), std::uint8_t(count)}), m, 8);
            }
            c.check(cat(f.p, {std::uint8_t(op + 0x10), c.modrm(kind, c.reg(f.bits == 8))}), shift_mask(kind, 1, f.bits), 8);
            // By cl: the mask follows the count each round draws.
            unsigned const bits = f.bits;
            c.check_by(cat(f.p, {opcl, c.modrm(kind, 0)}), [&](HostRegs const& in) {
                return shift_mask(kind, unsigned(in.r[1] & 0xff) & (bits == 64 ? 63 : 31), bits);
            }, 30);
        }
    }
}

TEST(IntHost, DoubleShifts) {
    Checker c;
    struct { Bytes p; unsigned bits; } const forms[3] = {{{}, 32}, {{0x66}, 16}, {{0x48}, 64}};
    for (auto const& f : forms) {
        for (std::uint8_t op : {std::uint8_t(0xa4), std::uint8_t(0xac)}) {
            for (unsigned count = 0; count < 64; count += 1) {
                unsigned const masked = count & (f.bits == 64 ? 63 : 31);
                if (masked > f.bits) continue;   // undefined result
                std::uint64_t const m = masked == 0 ? all_flags : (cf | sf | zf | pf | (masked == 1 ? of : 0));
                c.check(cat(f.p, {0x0f, op, c.modrm(c.reg(false), c.reg(false)), std::uint8_t(count)}), m, 4);
            }
        }
    }
}

TEST(IntHost, BitsAndMoves) {
    Checker c;
    for (auto const& p : sizes) {
        for (std::uint8_t op : {0xa3, 0xab, 0xb3, 0xbb})
            c.check(cat(p, {0x0f, op, c.modrm(c.reg(false), c.reg(false))}), cf);
        for (unsigned k = 4; k < 8; ++k) c.check(cat(p, {0x0f, 0xba, c.modrm(k, c.reg(false)), std::uint8_t(c.rng())}), cf);
        c.check(cat(p, {0x0f, 0xbc, c.modrm(c.reg(false), c.reg(false))}), zf);
        c.check(cat(p, {0x0f, 0xbd, c.modrm(c.reg(false), c.reg(false))}), zf);
        c.check(cat(p, {0x0f, 0xb6, c.modrm(c.reg(false), c.reg(true))}), all_flags);
        c.check(cat(p, {0x0f, 0xbe, c.modrm(c.reg(false), c.reg(true))}), all_flags);
        c.check(cat(p, {0x0f, 0xb7, c.modrm(c.reg(false), c.reg(false))}), all_flags);
        c.check(cat(p, {0x0f, 0xbf, c.modrm(c.reg(false), c.reg(false))}), all_flags);
        c.check(cat(p, {0x87, c.modrm(c.reg(false), c.reg(false))}), all_flags);
        c.check(cat(p, {0x0f, 0xc1, c.modrm(c.reg(false), c.reg(false))}), all_flags);
        c.check(cat(p, {0x0f, 0xb1, c.modrm(c.reg(false), c.reg(false))}), all_flags);
        c.check(cat(p, {0x98}), all_flags);
        c.check(cat(p, {0x99}), all_flags);
        c.check(cat(p, {0x8b, c.modrm(c.reg(false), c.reg(false))}), all_flags);
        c.check(cat(p, {0x89, c.modrm(c.reg(false), c.reg(false))}), all_flags);
        c.check(cat(p, p == Bytes{0x66} ? Bytes{0xc7, c.modrm(0, c.reg(false)), 0x00, 0x80} : Bytes{0xc7, c.modrm(0, c.reg(false)), 0x00, 0x00, 0x00, 0x80}), all_flags);
        for (std::uint8_t r : {0, 1, 2, 3, 6, 7}) c.check(cat(p, {std::uint8_t(0x90 + r)}), all_flags, 5);
        for (std::uint8_t cc = 0; cc < 16; ++cc)
            c.check(cat(p, {0x0f, std::uint8_t(0x40 + cc), c.modrm(c.reg(false), c.reg(false))}), all_flags, 10);
    }
    c.check({0x48, 0x63, c.modrm(0, 1)}, all_flags);
    c.check({0x63, c.modrm(0, 1)}, all_flags);
    c.check({0xb4, 0x80}, all_flags);
    c.check({0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}, all_flags);
    c.check({0xb8, 1, 2, 3, 0x84}, all_flags);
    for (std::uint8_t r : {0, 1, 2, 3, 6, 7}) {
        c.check({0x0f, std::uint8_t(0xc8 + r)}, all_flags);
        c.check({0x48, 0x0f, std::uint8_t(0xc8 + r)}, all_flags);
    }
    for (std::uint8_t cc = 0; cc < 16; ++cc) c.check({0x0f, std::uint8_t(0x90 + cc), c.modrm(0, c.reg(true))}, all_flags, 10);
    c.check({0x0f, 0xc0, c.modrm(c.reg(true), c.reg(true))}, all_flags);
    c.check({0x0f, 0xb0, c.modrm(c.reg(true), c.reg(true))}, all_flags);
    c.check({0x86, c.modrm(c.reg(true), c.reg(true))}, all_flags);
    c.check({0x9f}, all_flags);
    c.check({0x9e}, all_flags);
    c.check({0xf5}, all_flags);
    c.check({0xf8}, all_flags);
    c.check({0xf9}, all_flags);
}

} // namespace
} // namespace kxen::soft
