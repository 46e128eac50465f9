// Shared pieces of the general-purpose integer families: arithmetic flags (SDM vol. 1, 3.4.3
// and appendix A), condition codes, operand helpers, locked read-modify-write and the stack.
#pragma once
#include "soft/table.hpp"

namespace kxen::soft::integer {

inline constexpr std::uint64_t tf = 1u << 8, if_ = 1u << 9, df = 1u << 10, iopl = 3u << 12,
                               nt = 1u << 14, rf = 1u << 16, vm = 1u << 17, vif = 1u << 19,
                               vip = 1u << 20, id = 1u << 21;

[[nodiscard]] inline unsigned msb_shift(unsigned size) { return size * 8 - 1; }
[[nodiscard]] inline std::uint64_t sign_extend(std::uint64_t v, unsigned size) {
    unsigned const sh = 64 - size * 8;
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(v << sh) >> sh);
}

// PF, ZF and SF of a result.
[[nodiscard]] inline std::uint64_t szp(std::uint64_t res, unsigned size) {
    res &= size_mask(size);
    std::uint64_t f = __builtin_parity(static_cast<unsigned>(res & 0xff)) ? 0 : fl::pf;
    if (res == 0) f |= fl::zf;
    if ((res >> msb_shift(size)) & 1) f |= fl::sf;
    return f;
}

// res = a + b + carry-in, any size: the carries out of each bit give CF (top bit) and AF (bit 3).
[[nodiscard]] inline std::uint64_t add_flags(std::uint64_t a, std::uint64_t b, std::uint64_t res, unsigned size) {
    std::uint64_t const carries = (a & b) | ((a | b) & ~res);
    std::uint64_t f = szp(res, size);
    f |= (carries >> msb_shift(size)) & 1 ? fl::cf : 0;
    f |= (a ^ b ^ res) & fl::af;
    f |= (((a ^ res) & (b ^ res)) >> msb_shift(size)) & 1 ? fl::of : 0;
    return f;
}

// res = a - b - borrow-in.
[[nodiscard]] inline std::uint64_t sub_flags(std::uint64_t a, std::uint64_t b, std::uint64_t res, unsigned size) {
    std::uint64_t const borrows = (~a & b) | ((~a | b) & res);
    std::uint64_t f = szp(res, size);
    f |= (borrows >> msb_shift(size)) & 1 ? fl::cf : 0;
    f |= (a ^ b ^ res) & fl::af;
    f |= (((a ^ b) & (a ^ res)) >> msb_shift(size)) & 1 ? fl::of : 0;
    return f;
}

// The eight 00-3f / 80-83 operations, in their ModRM.reg order.
enum Op : unsigned { add, or_, adc, sbb, and_, sub, xor_, cmp };

struct Alu {
    std::uint64_t res;
    std::uint64_t flags;   // new values of the bits in `mask`
    std::uint64_t mask;    // logic ops leave AF (undefined) alone
};

[[nodiscard]] inline Alu alu(unsigned op, std::uint64_t a, std::uint64_t b, unsigned size, std::uint64_t rflags) {
    std::uint64_t const m = size_mask(size);
    a &= m, b &= m;
    std::uint64_t const cin = rflags & fl::cf;
    std::uint64_t r;
    switch (op) {
    case add: r = (a + b) & m; return {r, add_flags(a, b, r, size), fl::arith};
    case adc: r = (a + b + cin) & m; return {r, add_flags(a, b, r, size), fl::arith};
    case sbb: r = (a - b - cin) & m; return {r, sub_flags(a, b, r, size), fl::arith};
    case sub:
    case cmp: r = (a - b) & m; return {r, sub_flags(a, b, r, size), fl::arith};
    case or_: r = a | b; break;
    case and_: r = a & b; break;
    default: r = a ^ b; break;
    }
    return {r, szp(r, size), fl::arith & ~fl::af};
}

inline void set_flags(Ctx& c, std::uint64_t mask, std::uint64_t value) {
    c.s.rflags = (c.s.rflags & ~mask) | (value & mask);
}

// Condition codes tttn (jcc, setcc, cmovcc).
[[nodiscard]] inline bool cond(std::uint64_t f, unsigned cc) {
    bool r;
    bool const sf_ne_of = !(f & fl::sf) != !(f & fl::of);
    switch ((cc >> 1) & 7) {
    case 0: r = f & fl::of; break;
    case 1: r = f & fl::cf; break;
    case 2: r = f & fl::zf; break;
    case 3: r = f & (fl::cf | fl::zf); break;
    case 4: r = f & fl::sf; break;
    case 5: r = f & fl::pf; break;
    case 6: r = sf_ne_of; break;
    default: r = (f & fl::zf) || sf_ne_of; break;
    }
    return r != (cc & 1);
}

// Immediate sign-extended from its encoded size and cut to `size`.
[[nodiscard]] inline std::uint64_t imm_sx(Decoded const& d, unsigned size) {
    return sign_extend(d.imm, d.imm_size) & size_mask(size);
}

// Reads the r/m operand, computes its new value with f (which may record flags), writes it.
// Memory with LOCK goes through compare-exchange, retried until the store lands, so that the
// update is atomic against other vCPUs; f may run more than once and must only depend on its
// argument. Register updates and flags belong after this returns.
template <typename F> Step rmw(Ctx& c, unsigned size, F&& f) {
    if (!c.d.is_mem()) {
        c.set(c.d.rm(), size, f(c.get(c.d.rm(), size)));
        return {};
    }
    std::uint64_t const a = c.mem_addr();
    std::uint64_t old = 0;
    if (auto r = c.read(a, &old, size); !r) return r;
    if (c.d.lock) {
        for (;;) {
            std::uint64_t desired = f(old);
            auto stored = c.cmpxchg(a, &old, &desired, size);
            if (!stored) return std::unexpected(stored.error());
            if (*stored) return {};
        }
    }
    std::uint64_t const v = f(old);
    return c.write(a, &v, size);
}

// Non-canonical branch targets fault with RIP at the branch; outside 64-bit code targets wrap.
[[nodiscard]] inline bool canonical(CpuState const& s, std::uint64_t v) {
    unsigned const bits = s.cr4 & cr4::la57 ? 57 : 48;
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(v << (64 - bits)) >> (64 - bits)) == v;
}
inline Step jump_to(Ctx& c, std::uint64_t target, unsigned op_size) {
    if (c.d.long64) {
        if (!canonical(c.s, target)) return fault(vec::gp, 0, "#GP: non-canonical branch target");
    } else {
        target &= size_mask(op_size);
    }
    c.jump(target);
    return {};
}
[[nodiscard]] inline std::uint64_t next_rip(Ctx const& c) { return c.s.rip + c.d.length; }

// Stack operand size of push/pop/call/ret: 64 in 64-bit code unless 66 makes it 16.
[[nodiscard]] inline unsigned stack_op_size(Decoded const& d) {
    return d.long64 ? (d.opsize_prefix && !d.rex_w() ? 2 : 8) : d.op_size;
}
// Stack address size: 64-bit code uses rsp, else SS.B picks esp or sp.
[[nodiscard]] inline unsigned stack_addr_size(Ctx const& c) {
    return c.d.long64 ? 8 : (c.s.seg[ss].attr & seg_attr::db) ? 4 : 2;
}
[[nodiscard]] inline std::uint64_t stack_addr(Ctx const& c, std::uint64_t sp) {
    if (c.d.long64) return sp;
    return (c.s.seg[ss].base + (sp & size_mask(stack_addr_size(c)))) & 0xffffffff;
}
// rsp after moving it by delta, only the stack-address-size part changing.
[[nodiscard]] inline std::uint64_t sp_add(Ctx const& c, std::uint64_t sp, std::int64_t delta) {
    std::uint64_t const m = size_mask(stack_addr_size(c));
    return (sp & ~m) | ((sp + static_cast<std::uint64_t>(delta)) & m);
}
// Stores v below rsp and moves rsp; the store comes first, so a fault changes nothing.
inline Step push(Ctx& c, std::uint64_t v, unsigned size) {
    std::uint64_t const sp = sp_add(c, c.s.gpr[rsp], -static_cast<std::int64_t>(size));
    if (auto r = c.write(stack_addr(c, sp), &v, size); !r) return r;
    c.s.gpr[rsp] = sp;
    return {};
}
// Reads the value at rsp; the caller moves rsp once nothing else can fault.
inline Got<std::uint64_t> peek(Ctx& c, unsigned size, std::uint64_t sp) {
    std::uint64_t v = 0;
    if (auto r = c.read(stack_addr(c, sp), &v, size); !r) return std::unexpected(r.error());
    return v;
}

// Linear address of a segment:offset outside ModRM (string ops, moffs, xlat).
[[nodiscard]] inline std::uint64_t seg_addr(Ctx const& c, int seg, std::uint64_t off) {
    if (c.d.long64) return (seg == fs || seg == gs ? c.s.seg[seg].base : 0) + off;
    return (c.s.seg[seg].base + off) & 0xffffffff;
}

} // namespace kxen::soft::integer
