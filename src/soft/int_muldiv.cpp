// mul/imul/div/idiv (f6/f7 /4-/7) and the two- and three-operand imul (0f af, 69, 6b). Only CF
// and OF are defined after a multiply, no flag after a divide: the others are left as they were.
#include "soft/int_flags.hpp"

namespace kxen::soft {
namespace {
using namespace integer;
using u128 = unsigned __int128;
using i128 = __int128;

Got<std::uint64_t> source(Ctx& c, unsigned size) { return c.rm_get(size); }

void set_cf_of(Ctx& c, bool v) { set_flags(c, fl::cf | fl::of, v ? fl::cf | fl::of : 0); }

// The double-width accumulator: ax for bytes, dx:ax / edx:eax / rdx:rax otherwise.
void put_wide(Ctx& c, unsigned size, u128 v) {
    if (size == 1) {
        c.set(rax, 2, static_cast<std::uint64_t>(v) & 0xffff);
        return;
    }
    c.set(rax, size, static_cast<std::uint64_t>(v));
    c.set(rdx, size, static_cast<std::uint64_t>(v >> (size * 8)));
}
u128 get_wide(Ctx const& c, unsigned size) {
    if (size == 1) return c.get(rax, 2);
    return (u128{c.get(rdx, size)} << (size * 8)) | c.get(rax, size);
}

template <bool Byte> Step mul(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    auto src = source(c, size);
    if (!src) return std::unexpected(src.error());
    u128 const p = u128{c.get(rax, size)} * *src;
    put_wide(c, size, p);
    set_cf_of(c, (p >> (size * 8)) != 0);
    return {};
}

i128 sx(std::uint64_t v, unsigned size) { return static_cast<std::int64_t>(sign_extend(v, size)); }
// Whether a signed product fits the operand size.
bool fits(i128 p, unsigned size) { return sx(static_cast<std::uint64_t>(p), size) == p; }

template <bool Byte> Step imul1(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    auto src = source(c, size);
    if (!src) return std::unexpected(src.error());
    i128 const p = sx(c.get(rax, size), size) * sx(*src, size);
    put_wide(c, size, static_cast<u128>(p));
    set_cf_of(c, !fits(p, size));
    return {};
}

// imul r, r/m (0f af); imul r, r/m, imm (69, 6b).
template <bool Imm> Step imul2(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto src = source(c, size);
    if (!src) return std::unexpected(src.error());
    std::uint64_t const other = Imm ? imm_sx(c.d, size) : c.get(c.d.reg(), size);
    i128 const p = sx(other, size) * sx(*src, size);
    c.set(c.d.reg(), size, static_cast<std::uint64_t>(p));
    set_cf_of(c, !fits(p, size));
    return {};
}

template <bool Byte> Step div(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    auto src = source(c, size);
    if (!src) return std::unexpected(src.error());
    if (*src == 0) return fault(vec::de, "#DE: divide by zero");
    u128 const n = get_wide(c, size);
    u128 const q = n / *src, r = n % *src;
    if (q > size_mask(size)) return fault(vec::de, "#DE: quotient too large");
    if (size == 1) {
        c.set(rax, 2, (static_cast<std::uint64_t>(q) & 0xff) | (static_cast<std::uint64_t>(r) << 8));
    } else {
        c.set(rax, size, static_cast<std::uint64_t>(q));
        c.set(rdx, size, static_cast<std::uint64_t>(r));
    }
    return {};
}

template <bool Byte> Step idiv(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    auto src = source(c, size);
    if (!src) return std::unexpected(src.error());
    if (*src == 0) return fault(vec::de, "#DE: divide by zero");
    u128 const raw = get_wide(c, size);
    unsigned const bits = size * 16;   // the dividend is twice the operand size
    i128 const n = bits == 128 ? static_cast<i128>(raw) : static_cast<i128>(raw << (128 - bits)) >> (128 - bits);
    i128 const d = sx(*src, size);
    // 2-to-the-127 / -1 is the only quotient that overflows i128 itself; it is far out of range.
    bool const min_by_minus1 = bits == 128 && d == -1 && raw == (u128{1} << 127);
    if (min_by_minus1) return fault(vec::de, "#DE: quotient too large");
    i128 const q = n / d, r = n % d;
    if (!fits(q, size)) return fault(vec::de, "#DE: quotient too large");
    if (size == 1) {
        c.set(rax, 2, (static_cast<std::uint64_t>(q) & 0xff) | ((static_cast<std::uint64_t>(r) & 0xff) << 8));
    } else {
        c.set(rax, size, static_cast<std::uint64_t>(q));
        c.set(rdx, size, static_cast<std::uint64_t>(r));
    }
    return {};
}

constexpr Row rows[] = {
    {.name = "mul", .ops = "B", .map = Map::one, .opcode = 0xf6, .pfx = Pfx::any, .reg = 4, .in_place = true, .fn = mul<true>},
    {.name = "imul", .ops = "B", .map = Map::one, .opcode = 0xf6, .pfx = Pfx::any, .reg = 5, .in_place = true, .fn = imul1<true>},
    {.name = "div", .ops = "B", .map = Map::one, .opcode = 0xf6, .pfx = Pfx::any, .reg = 6, .in_place = true, .fn = div<true>},
    {.name = "idiv", .ops = "B", .map = Map::one, .opcode = 0xf6, .pfx = Pfx::any, .reg = 7, .in_place = true, .fn = idiv<true>},
    {.name = "mul", .ops = "E", .map = Map::one, .opcode = 0xf7, .pfx = Pfx::any, .reg = 4, .in_place = true, .fn = mul<false>},
    {.name = "imul", .ops = "E", .map = Map::one, .opcode = 0xf7, .pfx = Pfx::any, .reg = 5, .in_place = true, .fn = imul1<false>},
    {.name = "div", .ops = "E", .map = Map::one, .opcode = 0xf7, .pfx = Pfx::any, .reg = 6, .in_place = true, .fn = div<false>},
    {.name = "idiv", .ops = "E", .map = Map::one, .opcode = 0xf7, .pfx = Pfx::any, .reg = 7, .in_place = true, .fn = idiv<false>},
    {.name = "imul", .ops = "GE", .opcode = 0xaf, .pfx = Pfx::any, .in_place = true, .fn = imul2<false>},
    {.name = "imul", .ops = "GEI", .map = Map::one, .opcode = 0x69, .pfx = Pfx::any, .in_place = true, .fn = imul2<true>},
    {.name = "imul", .ops = "GEI", .map = Map::one, .opcode = 0x6b, .pfx = Pfx::any, .in_place = true, .fn = imul2<true>},
};

} // namespace

std::span<Row const> int_muldiv_rows() { return rows; }

} // namespace kxen::soft
