// Internals shared by the instruction families: the context a handler runs in (decoded
// instruction, the vCPU state it may change, guest memory), operand access and the faults.
#pragma once
#include <cstring>
#include <expected>
#include <span>
#include "soft/emulate.hpp"
#include "soft/regs.hpp"

namespace kxen::soft {

// A handler either completes (the dispatcher then advances RIP) or says why it stopped.
using Step = std::expected<void, Result>;
template <typename T> using Got = std::expected<T, Result>;

namespace vec {
inline constexpr std::uint8_t de = 0, db = 1, nmi = 2, bp = 3, of = 4, br = 5, ud = 6, nm = 7, df = 8,
                               ts = 10, np = 11, ss = 12, gp = 13, pf = 14, mf = 16, ac = 17, xm = 19;
}

std::unexpected<Result> fault(std::uint8_t vector, std::string what);
std::unexpected<Result> fault(std::uint8_t vector, std::uint32_t error_code, std::string what);   // #GP(sel) ...
std::unexpected<Result> exit_to_owner(Exit e);
std::unexpected<Result> page_fault(std::uint64_t gva, bool write, bool user, bool fetch = false);
std::unexpected<Result> unsupported(std::string what);

namespace cr0 {
inline constexpr std::uint64_t mp = 1u << 1, em = 1u << 2, ts = 1u << 3, am = 1u << 18;
}
namespace cr4 {
inline constexpr std::uint64_t tsd = 1u << 2, osfxsr = 1u << 9, osxmmexcpt = 1u << 10, la57 = 1u << 12, osxsave = 1u << 18;
}
namespace fl {
inline constexpr std::uint64_t cf = 1u << 0, pf = 1u << 2, af = 1u << 4, zf = 1u << 6, sf = 1u << 7,
                               of = 1u << 11, ac = 1u << 18, arith = cf | pf | af | zf | sf | of;
}

struct Ctx {
    Decoded const& d;
    CpuState& s;                       // a scratch copy: the dispatcher commits it only on done
    Env& env;

    // Linear address of the ModRM memory operand: ModRM/SIB/disp or RIP-relative, wrapped to
    // the address size, plus the segment base (in 64-bit mode only fs/gs have one).
    [[nodiscard]] std::uint64_t ea() const;          // the offset, as FDP records it
    [[nodiscard]] std::uint64_t mem_addr() const;

    // Guest memory; a refused access is a #PF, a non-canonical address a #GP.
    Step read(std::uint64_t gva, void* dst, std::size_t len);
    Step write(std::uint64_t gva, void const* src, std::size_t len);
    // Env::cmpxchg with the same checks: true if it stored, false if *expected now holds memory.
    Got<bool> cmpxchg(std::uint64_t gva, void* expected, void const* desired, std::size_t len);
    template <typename T> Got<T> load(std::uint64_t gva) {
        T v{};
        if (auto r = read(gva, &v, sizeof v); !r) return std::unexpected(r.error());
        return v;
    }
    template <typename T> Step store(std::uint64_t gva, T const& v) { return write(gva, &v, sizeof v); }
    // #GP unless gva is a multiple of align (movdqa, cmpxchg16b, fxsave, xrstor ...).
    Step aligned(std::uint64_t gva, std::size_t align, char const* what) const;

    // General registers by encoding number and size in bytes. Size 1 without any REX prefix
    // means al..bh (4..7 = ah ch dh bh). Writes of 4 bytes zero the upper half, 1/2 merge.
    [[nodiscard]] std::uint64_t get(unsigned reg, unsigned size) const;
    void set(unsigned reg, unsigned size, std::uint64_t v);

    // The ModRM r/m operand as a general register or memory of `size` bytes.
    Got<std::uint64_t> rm_get(unsigned size);
    Step rm_set(unsigned size, std::uint64_t v);

    // The ModRM r/m operand as an XMM register or `size` bytes of memory (zero-extended).
    Got<Xmm> rm_xmm(unsigned size, std::size_t align = 1);

    [[nodiscard]] bool user() const { return s.cpl == 3; }

    // Control transfer: the dispatcher then leaves RIP where the handler put it instead of
    // advancing it. jump(s.rip) re-runs the instruction (a rep string op cut into chunks).
    void jump(std::uint64_t target) {
        s.rip = target;
        jumped = true;
    }
    bool jumped = false;
};

// Handlers that change state before their last possible fault run on a copy that the
// dispatcher commits on done; the others run in place (Row::in_place), which is the software
// vCPU's fast path. An in-place handler must not write CpuState, nor memory other than in
// its final store, before everything that can fault has been done.

[[nodiscard]] inline std::uint64_t size_mask(unsigned size) {
    return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

// The operand accessors every handler uses, inline: they are most of an integer instruction's
// work on the software vCPU's hot path.
inline bool canonical(std::uint64_t gva, bool la57) {
    unsigned const bits = la57 ? 57 : 48;
    auto const v = static_cast<std::int64_t>(gva << (64 - bits)) >> (64 - bits);
    return static_cast<std::uint64_t>(v) == gva;
}

inline std::uint64_t Ctx::ea() const {
    std::uint64_t a = 0;
    unsigned const mod = d.mod();
    if (d.addr_size == 2) {
        // 16-bit forms: bx+si bx+di bp+si bp+di si di bp(/disp16) bx.
        static constexpr int base16[8] = {rbx, rbx, rbp, rbp, rsi, rdi, rbp, rbx};
        static constexpr int index16[8] = {rsi, rdi, rsi, rdi, -1, -1, -1, -1};
        unsigned const rm = d.rm_field();
        if (!(mod == 0 && rm == 6)) a += s.gpr[base16[rm]];
        if (index16[rm] >= 0) a += s.gpr[index16[rm]];
        return (a + static_cast<std::uint64_t>(d.disp)) & 0xffff;
    }
    if (d.rip_relative()) {
        a = s.rip + d.length;   // relative to the next instruction
    } else if (d.has_sib) {
        unsigned const base = (d.sib & 7) | ((d.rex & 1) << 3);
        unsigned const index = ((d.sib >> 3) & 7) | ((d.rex & 2) << 2);
        if (!(mod == 0 && (d.sib & 7) == 5)) a += s.gpr[base];
        if (index != rsp) a += s.gpr[index] << (d.sib >> 6);   // index 4 means none; r12 is fine
    } else if (!(mod == 0 && d.rm_field() == 5)) {
        a += s.gpr[d.rm()];
    }
    a += static_cast<std::uint64_t>(d.disp);
    return d.addr_size == 4 ? a & 0xffffffff : a;
}

inline std::uint64_t Ctx::mem_addr() const {
    int seg = d.seg;
    if (seg < 0) {   // bp/sp-based addressing defaults to ss
        bool stack;
        if (d.addr_size == 2)
            stack = d.rm_field() == 2 || d.rm_field() == 3 || (d.rm_field() == 6 && d.mod() != 0);
        else if (d.has_sib)
            stack = (d.sib & 7) == rsp || ((d.sib & 7) == rbp && d.mod() != 0);
        else
            stack = d.rm_field() == rbp && d.mod() != 0;
        seg = stack && !(d.rex & 1) ? ss : ds;
    }
    if (d.long64) return (seg == fs || seg == gs ? s.seg[seg].base : 0) + ea();
    return (s.seg[seg].base + ea()) & 0xffffffff;   // no limit checks: flat guests only
}

inline Step Ctx::read(std::uint64_t gva, void* dst, std::size_t len) {
    if (d.long64 && !canonical(gva, s.cr4 & cr4::la57)) return fault(vec::gp, "non-canonical address");
    if (!env.read(gva, dst, len)) return page_fault(gva, false, user());
    return {};
}

inline Step Ctx::write(std::uint64_t gva, void const* src, std::size_t len) {
    if (d.long64 && !canonical(gva, s.cr4 & cr4::la57)) return fault(vec::gp, "non-canonical address");
    if (!env.write(gva, src, len)) return page_fault(gva, true, user());
    return {};
}

inline std::uint64_t Ctx::get(unsigned reg, unsigned size) const {
    if (size == 1 && !d.rex && reg >= 4 && reg < 8) return (s.gpr[reg - 4] >> 8) & 0xff;   // ah..bh
    return s.gpr[reg] & size_mask(size);
}

inline void Ctx::set(unsigned reg, unsigned size, std::uint64_t v) {
    if (size == 1 && !d.rex && reg >= 4 && reg < 8) {
        auto& r = s.gpr[reg - 4];
        r = (r & ~0xff00ull) | ((v & 0xff) << 8);
    } else if (size >= 4) {
        s.gpr[reg] = v & size_mask(size);   // 32-bit results zero the upper half
    } else {
        s.gpr[reg] = (s.gpr[reg] & ~size_mask(size)) | (v & size_mask(size));
    }
}

inline Got<std::uint64_t> Ctx::rm_get(unsigned size) {
    if (!d.is_mem()) return get(d.rm(), size);
    std::uint64_t v = 0;
    if (auto r = read(mem_addr(), &v, size); !r) return std::unexpected(r.error());
    return v;
}

inline Step Ctx::rm_set(unsigned size, std::uint64_t v) {
    if (!d.is_mem()) {
        set(d.rm(), size, v);
        return {};
    }
    return write(mem_addr(), &v, size);
}

} // namespace kxen::soft
