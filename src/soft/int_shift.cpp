// Shifts and rotates: rol/ror/rcl/rcr/shl/shr/sal/sar (c0/c1/d0-d3) and shld/shrd (0f a4/a5/
// ac/ad). The count is masked to 5 bits (6 with a 64-bit operand); a masked count of 0 changes
// no flag, OF is defined for a count of 1 only and AF never: those are left as they were.
#include "soft/int_flags.hpp"

namespace kxen::soft {
namespace {
using namespace integer;
using u128 = unsigned __int128;

enum Kind : unsigned { rol, ror, rcl, rcr, shl, shr, sal, sar };

struct Shifted {
    std::uint64_t res;
    std::uint64_t flags, mask;
};

// count: already masked and nonzero.
Shifted shift(unsigned kind, std::uint64_t v, unsigned count, unsigned size, std::uint64_t rfl) {
    unsigned const bits = size * 8;
    std::uint64_t const m = size_mask(size);
    v &= m;
    auto msb = [&](std::uint64_t x) { return (x >> (bits - 1)) & 1; };
    std::uint64_t cf = 0, of = 0, res = 0, mask = fl::cf | (count == 1 ? fl::of : 0);
    switch (kind) {
    case rol: {
        unsigned const n = count % bits;
        res = n ? ((v << n) | (v >> (bits - n))) & m : v;
        cf = res & 1;
        of = msb(res) ^ cf;
        break;
    }
    case ror: {
        unsigned const n = count % bits;
        res = n ? ((v >> n) | (v << (bits - n))) & m : v;
        cf = msb(res);
        of = msb(res) ^ ((res >> (bits - 2)) & 1);
        break;
    }
    case rcl:
    case rcr: {
        unsigned const width = bits + 1;   // the operand and CF rotate together
        unsigned n = count % width;
        if (n == 0) return {v, 0, 0};      // an 8/16-bit count of 9/17, 18 ...: nothing moves
        if (kind == rcr) n = width - n;    // a right rotation is a left one the other way
        u128 const x = (u128{rfl & fl::cf} << bits) | v;
        u128 const wm = (u128{1} << width) - 1;
        u128 const r = ((x << n) | (x >> (width - n))) & wm;
        res = static_cast<std::uint64_t>(r) & m;
        cf = static_cast<std::uint64_t>(r >> bits) & 1;
        of = kind == rcl ? msb(res) ^ cf : msb(res) ^ ((res >> (bits - 2)) & 1);
        break;
    }
    case shl:
    case sal:
        res = count < bits ? (v << count) & m : 0;
        cf = count <= bits ? (count == bits ? v & 1 : (v >> (bits - count)) & 1) : 0;
        of = msb(res) ^ cf;
        mask |= fl::sf | fl::zf | fl::pf;
        if (count >= bits) mask &= ~fl::cf;   // undefined
        break;
    case shr:
        res = count < bits ? v >> count : 0;
        cf = count <= bits ? (v >> (count - 1)) & 1 : 0;
        of = msb(v);
        mask |= fl::sf | fl::zf | fl::pf;
        if (count >= bits) mask &= ~fl::cf;
        break;
    default: {   // sar
        auto const sv = static_cast<std::int64_t>(sign_extend(v, size));
        unsigned const n = count < bits ? count : bits - 1;
        res = static_cast<std::uint64_t>(sv >> n) & m;
        cf = static_cast<std::uint64_t>(sv >> (count < bits ? count - 1 : bits - 1)) & 1;
        of = 0;
        mask |= fl::sf | fl::zf | fl::pf;
        break;
    }
    }
    std::uint64_t f = (cf ? fl::cf : 0) | (of ? fl::of : 0);
    if (mask & fl::zf) f |= szp(res, size);
    return {res, f, mask};
}

// A zero count changes nothing, but the operand is still accessed (a memory one may fault) and
// a 32-bit register is still written, which zero-extends it.
Step zero_count(Ctx& c, unsigned size) {
    auto v = c.rm_get(size);
    if (!v) return std::unexpected(v.error());
    if (!c.d.is_mem()) c.set(c.d.rm(), size, *v);
    return {};
}

// Src: 0 = 1 (d0/d1), 1 = cl (d2/d3), 2 = imm8 (c0/c1).
template <bool Byte, unsigned Src> Step shift_op(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    unsigned const raw = Src == 0 ? 1 : Src == 1 ? static_cast<unsigned>(c.s.gpr[rcx] & 0xff)
                                                 : static_cast<unsigned>(c.d.imm);
    unsigned const count = raw & (size == 8 ? 63 : 31);
    unsigned const kind = c.d.reg_field();
    if (count == 0) {
        return zero_count(c, size);
    }
    std::uint64_t const rfl = c.s.rflags;
    Shifted out{};
    auto r = rmw(c, size, [&](std::uint64_t v) {
        out = shift(kind, v, count, size, rfl);
        return out.res;
    });
    if (!r) return r;
    set_flags(c, out.mask, out.flags);
    return {};
}

// shld/shrd: the destination shifted with bits coming in from the source register. A 16-bit
// count above 16 has an undefined result; this gives what P6-family processors do (the
// operands repeat as dest:src:dest).
template <bool Left, bool Cl> Step double_shift(Ctx& c) {
    unsigned const size = c.d.op_size, bits = size * 8;
    unsigned const raw = Cl ? static_cast<unsigned>(c.s.gpr[rcx] & 0xff) : static_cast<unsigned>(c.d.imm);
    unsigned const count = raw & (size == 8 ? 63 : 31);
    if (count == 0) return zero_count(c, size);
    std::uint64_t const src = c.get(c.d.reg(), size), m = size_mask(size);
    std::uint64_t f = 0;
    auto r = rmw(c, size, [&](std::uint64_t dst) {
        dst &= m;
        std::uint64_t res, cf;
        if (size == 8) {   // count < 64: no repetition needed
            res = Left ? (dst << count) | (src >> (64 - count)) : (dst >> count) | (src << (64 - count));
            cf = Left ? (dst >> (64 - count)) & 1 : (dst >> (count - 1)) & 1;
        } else {
            u128 const x = (u128{dst} << (2 * bits)) | (u128{src} << bits) | dst;   // dest:src:dest
            res = static_cast<std::uint64_t>(Left ? x >> (2 * bits - count) : x >> count) & m;
            cf = static_cast<std::uint64_t>(Left ? x >> (3 * bits - count) : x >> (count - 1)) & 1;
        }
        f = szp(res, size) | (cf ? fl::cf : 0);
        if ((((res ^ dst) >> (bits - 1)) & 1)) f |= fl::of;   // sign change (count 1)
        return res;
    });
    if (!r) return r;
    set_flags(c, fl::cf | fl::sf | fl::zf | fl::pf | (count == 1 ? fl::of : 0), f);
    return {};
}

constexpr Row rows[] = {
    {.name = "shift", .ops = "BI", .map = Map::one, .opcode = 0xc0, .pfx = Pfx::any, .in_place = true, .fn = shift_op<true, 2>},
    {.name = "shift", .ops = "EI", .map = Map::one, .opcode = 0xc1, .pfx = Pfx::any, .in_place = true, .fn = shift_op<false, 2>},
    {.name = "shift", .ops = "B", .map = Map::one, .opcode = 0xd0, .pfx = Pfx::any, .in_place = true, .fn = shift_op<true, 0>},
    {.name = "shift", .ops = "E", .map = Map::one, .opcode = 0xd1, .pfx = Pfx::any, .in_place = true, .fn = shift_op<false, 0>},
    {.name = "shift", .ops = "B", .map = Map::one, .opcode = 0xd2, .pfx = Pfx::any, .in_place = true, .fn = shift_op<true, 1>},
    {.name = "shift", .ops = "E", .map = Map::one, .opcode = 0xd3, .pfx = Pfx::any, .in_place = true, .fn = shift_op<false, 1>},
    {.name = "shld", .ops = "EGI", .opcode = 0xa4, .pfx = Pfx::any, .in_place = true, .fn = double_shift<true, false>},
    {.name = "shld", .ops = "EG", .opcode = 0xa5, .pfx = Pfx::any, .in_place = true, .fn = double_shift<true, true>},
    {.name = "shrd", .ops = "EGI", .opcode = 0xac, .pfx = Pfx::any, .in_place = true, .fn = double_shift<false, false>},
    {.name = "shrd", .ops = "EG", .opcode = 0xad, .pfx = Pfx::any, .in_place = true, .fn = double_shift<false, true>},
};

} // namespace

std::span<Row const> int_shift_rows() { return rows; }

} // namespace kxen::soft
