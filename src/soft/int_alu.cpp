// add/or/adc/sbb/and/sub/xor/cmp in all their forms (00-3d, 80-83), inc/dec (fe/ff /0 /1 and
// 40-4f outside 64-bit code), neg/not/test (f6/f7, 84/85/a8/a9), xadd and cmpxchg (0f c0/c1,
// 0f b0/b1). Memory destinations with LOCK update through compare-exchange (rmw()).
#include <array>
#include "soft/int_flags.hpp"

namespace kxen::soft {
namespace {
using namespace integer;

// Operand forms of the 00-3f and 80-83 opcodes.
enum Form : unsigned { EbGb, EvGv, GbEb, GvEv, ALIb, AXIz, EbIb, EvIz, EvIb };

template <unsigned O, unsigned F> Step alu_op(Ctx& c) {
    constexpr bool byte = F == EbGb || F == GbEb || F == ALIb || F == EbIb;
    unsigned const size = byte ? 1 : c.d.op_size;
    std::uint64_t const rfl = c.s.rflags;
    Alu out{};
    if constexpr (F == GbEb || F == GvEv) {
        auto src = c.rm_get(size);
        if (!src) return std::unexpected(src.error());
        out = alu(O, c.get(c.d.reg(), size), *src, size, rfl);
        if (O != cmp) c.set(c.d.reg(), size, out.res);
    } else if constexpr (F == ALIb || F == AXIz) {
        out = alu(O, c.get(rax, size), imm_sx(c.d, size), size, rfl);
        if (O != cmp) c.set(rax, size, out.res);
    } else {
        std::uint64_t src;
        if constexpr (F == EbGb || F == EvGv) src = c.get(c.d.reg(), size);
        else src = imm_sx(c.d, size);
        if constexpr (O == cmp) {
            auto dst = c.rm_get(size);
            if (!dst) return std::unexpected(dst.error());
            out = alu(O, *dst, src, size, rfl);
        } else {
            auto r = rmw(c, size, [&](std::uint64_t v) {
                out = alu(O, v, src, size, rfl);
                return out.res;
            });
            if (!r) return r;
        }
    }
    set_flags(c, out.mask, out.flags);
    return {};
}

constexpr char const* names[8] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};

template <unsigned O> constexpr void op_rows(Row* r) {
    constexpr bool lk = O != cmp;
    std::uint8_t const base = static_cast<std::uint8_t>(O * 8);
    char const* n = names[O];
    r[0] = {.name = n, .ops = "BR", .map = Map::one, .opcode = base, .pfx = Pfx::any, .lockable = lk, .in_place = true, .fn = alu_op<O, EbGb>};
    r[1] = {.name = n, .ops = "EG", .map = Map::one, .opcode = std::uint8_t(base + 1), .pfx = Pfx::any, .lockable = lk, .in_place = true, .fn = alu_op<O, EvGv>};
    r[2] = {.name = n, .ops = "RB", .map = Map::one, .opcode = std::uint8_t(base + 2), .pfx = Pfx::any, .in_place = true, .fn = alu_op<O, GbEb>};
    r[3] = {.name = n, .ops = "GE", .map = Map::one, .opcode = std::uint8_t(base + 3), .pfx = Pfx::any, .in_place = true, .fn = alu_op<O, GvEv>};
    r[4] = {.name = n, .ops = "I", .map = Map::one, .opcode = std::uint8_t(base + 4), .pfx = Pfx::any, .in_place = true, .fn = alu_op<O, ALIb>};
    r[5] = {.name = n, .ops = "I", .map = Map::one, .opcode = std::uint8_t(base + 5), .pfx = Pfx::any, .in_place = true, .fn = alu_op<O, AXIz>};
    std::int8_t const g = static_cast<std::int8_t>(O);
    r[6] = {.name = n, .ops = "BI", .map = Map::one, .opcode = 0x80, .pfx = Pfx::any, .reg = g, .lockable = lk, .in_place = true, .fn = alu_op<O, EbIb>};
    r[7] = {.name = n, .ops = "EI", .map = Map::one, .opcode = 0x81, .pfx = Pfx::any, .reg = g, .lockable = lk, .in_place = true, .fn = alu_op<O, EvIz>};
    r[8] = {.name = n, .ops = "BI", .map = Map::one, .opcode = 0x82, .pfx = Pfx::any, .reg = g, .mode = Mode::not64, .lockable = lk, .in_place = true, .fn = alu_op<O, EbIb>};
    r[9] = {.name = n, .ops = "EI", .map = Map::one, .opcode = 0x83, .pfx = Pfx::any, .reg = g, .lockable = lk, .in_place = true, .fn = alu_op<O, EvIb>};
}

// inc/dec leave CF alone.
template <bool Dec, bool Byte> Step incdec(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    std::uint64_t f = 0;
    auto r = rmw(c, size, [&](std::uint64_t v) {
        std::uint64_t const res = (Dec ? v - 1 : v + 1) & size_mask(size);
        f = Dec ? sub_flags(v, 1, res, size) : add_flags(v, 1, res, size);
        return res;
    });
    if (!r) return r;
    set_flags(c, fl::arith & ~fl::cf, f);
    return {};
}

// 40+r / 48+r in 16/32-bit code.
template <bool Dec> Step incdec_reg(Ctx& c) {
    unsigned const size = c.d.op_size, reg = c.d.opcode & 7;
    std::uint64_t const v = c.get(reg, size), res = (Dec ? v - 1 : v + 1) & size_mask(size);
    c.set(reg, size, res);
    set_flags(c, fl::arith & ~fl::cf, Dec ? sub_flags(v, 1, res, size) : add_flags(v, 1, res, size));
    return {};
}

template <bool Byte> Step neg(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    std::uint64_t f = 0;
    auto r = rmw(c, size, [&](std::uint64_t v) {
        std::uint64_t const res = (0 - v) & size_mask(size);
        f = (sub_flags(0, v, res, size) & ~fl::cf) | (res ? fl::cf : 0);
        return res;
    });
    if (!r) return r;
    set_flags(c, fl::arith, f);
    return {};
}

template <bool Byte> Step not_(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    return rmw(c, size, [&](std::uint64_t v) { return ~v & size_mask(size); });
}

// test: f6/f7 /0 /1 (imm), 84/85 (reg), a8/a9 (accumulator).
template <bool Byte, bool Imm, bool Acc> Step test(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    std::uint64_t a;
    if constexpr (Acc) {
        a = c.get(rax, size);
    } else {
        auto v = c.rm_get(size);
        if (!v) return std::unexpected(v.error());
        a = *v;
    }
    std::uint64_t const b = Imm ? imm_sx(c.d, size) : c.get(c.d.reg(), size);
    set_flags(c, fl::arith & ~fl::af, szp(a & b, size));
    return {};
}

template <bool Byte> Step xadd(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    std::uint64_t const src = c.get(c.d.reg(), size);
    std::uint64_t old = 0, f = 0;
    auto r = rmw(c, size, [&](std::uint64_t v) {
        old = v;
        std::uint64_t const res = (v + src) & size_mask(size);
        f = add_flags(v, src, res, size);
        return res;
    });
    if (!r) return r;
    // SRC <- DEST, then DEST <- sum: with one register for both, the sum wins.
    c.set(c.d.reg(), size, old);
    if (!c.d.is_mem()) c.set(c.d.rm(), size, (old + src) & size_mask(size));
    set_flags(c, fl::arith, f);
    return {};
}

// cmpxchg: compare the accumulator with the destination; equal stores the source there, else
// the accumulator loads the destination. A 32-bit register destination is zero-extended only
// when written, the accumulator only when loaded.
template <bool Byte> Step cmpxchg(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    std::uint64_t const acc = c.get(rax, size), src = c.get(c.d.reg(), size);
    std::uint64_t cur;
    bool equal;
    if (!c.d.is_mem()) {
        cur = c.get(c.d.rm(), size);
        equal = cur == acc;
        if (equal) c.set(c.d.rm(), size, src);
    } else {
        std::uint64_t const a = c.mem_addr();
        std::uint64_t expected = acc;
        // Without LOCK the processor still writes the destination back on a mismatch; with an
        // atomic compare-exchange that write is of the value just read, so it can be skipped.
        // Probe writability first so a read-only destination faults either way.
        if (!c.d.lock) {
            std::uint64_t v = 0;
            if (auto r = c.read(a, &v, size); !r) return r;
            if (auto r = c.write(a, v == acc ? &src : &v, size); !r) return r;
            cur = v;
            equal = v == acc;
        } else {
            auto stored = c.cmpxchg(a, &expected, &src, size);
            if (!stored) return std::unexpected(stored.error());
            equal = *stored;
            cur = equal ? acc : expected & size_mask(size);
        }
    }
    if (!equal) c.set(rax, size, cur);
    set_flags(c, fl::arith, sub_flags(acc, cur, (acc - cur) & size_mask(size), size));
    return {};
}

constexpr auto rows = [] {
    std::array<Row, 80 + 17> r{};
    op_rows<add>(&r[0]);
    op_rows<or_>(&r[10]);
    op_rows<adc>(&r[20]);
    op_rows<sbb>(&r[30]);
    op_rows<and_>(&r[40]);
    op_rows<sub>(&r[50]);
    op_rows<xor_>(&r[60]);
    op_rows<cmp>(&r[70]);
    Row* p = &r[80];
    *p++ = {.name = "inc", .ops = "B", .map = Map::one, .opcode = 0xfe, .pfx = Pfx::any, .reg = 0, .lockable = true, .in_place = true, .fn = incdec<false, true>};
    *p++ = {.name = "dec", .ops = "B", .map = Map::one, .opcode = 0xfe, .pfx = Pfx::any, .reg = 1, .lockable = true, .in_place = true, .fn = incdec<true, true>};
    *p++ = {.name = "inc", .ops = "E", .map = Map::one, .opcode = 0xff, .pfx = Pfx::any, .reg = 0, .lockable = true, .in_place = true, .fn = incdec<false, false>};
    *p++ = {.name = "dec", .ops = "E", .map = Map::one, .opcode = 0xff, .pfx = Pfx::any, .reg = 1, .lockable = true, .in_place = true, .fn = incdec<true, false>};
    *p++ = {.name = "inc", .map = Map::one, .opcode = 0x40, .count = 8, .pfx = Pfx::any, .mode = Mode::not64, .in_place = true, .fn = incdec_reg<false>};
    *p++ = {.name = "dec", .map = Map::one, .opcode = 0x48, .count = 8, .pfx = Pfx::any, .mode = Mode::not64, .in_place = true, .fn = incdec_reg<true>};
    *p++ = {.name = "test", .ops = "BI", .map = Map::one, .opcode = 0xf6, .pfx = Pfx::any, .reg = 0, .in_place = true, .fn = test<true, true, false>};
    *p++ = {.name = "test", .ops = "BI", .map = Map::one, .opcode = 0xf6, .pfx = Pfx::any, .reg = 1, .in_place = true, .fn = test<true, true, false>};
    *p++ = {.name = "not", .ops = "B", .map = Map::one, .opcode = 0xf6, .pfx = Pfx::any, .reg = 2, .lockable = true, .in_place = true, .fn = not_<true>};
    *p++ = {.name = "neg", .ops = "B", .map = Map::one, .opcode = 0xf6, .pfx = Pfx::any, .reg = 3, .lockable = true, .in_place = true, .fn = neg<true>};
    *p++ = {.name = "test", .ops = "EI", .map = Map::one, .opcode = 0xf7, .pfx = Pfx::any, .reg = 0, .in_place = true, .fn = test<false, true, false>};
    *p++ = {.name = "test", .ops = "EI", .map = Map::one, .opcode = 0xf7, .pfx = Pfx::any, .reg = 1, .in_place = true, .fn = test<false, true, false>};
    *p++ = {.name = "not", .ops = "E", .map = Map::one, .opcode = 0xf7, .pfx = Pfx::any, .reg = 2, .lockable = true, .in_place = true, .fn = not_<false>};
    *p++ = {.name = "neg", .ops = "E", .map = Map::one, .opcode = 0xf7, .pfx = Pfx::any, .reg = 3, .lockable = true, .in_place = true, .fn = neg<false>};
    *p++ = {.name = "test", .ops = "BR", .map = Map::one, .opcode = 0x84, .pfx = Pfx::any, .in_place = true, .fn = test<true, false, false>};
    *p++ = {.name = "test", .ops = "EG", .map = Map::one, .opcode = 0x85, .pfx = Pfx::any, .in_place = true, .fn = test<false, false, false>};
    *p++ = {.name = "test", .ops = "I", .map = Map::one, .opcode = 0xa8, .pfx = Pfx::any, .in_place = true, .fn = test<true, true, true>};
    return r;
}();

constexpr Row more[] = {
    {.name = "test", .ops = "I", .map = Map::one, .opcode = 0xa9, .pfx = Pfx::any, .in_place = true, .fn = test<false, true, true>},
    {.name = "xadd", .ops = "BR", .opcode = 0xc0, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = xadd<true>},
    {.name = "xadd", .ops = "EG", .opcode = 0xc1, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = xadd<false>},
    {.name = "cmpxchg", .ops = "BR", .opcode = 0xb0, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = cmpxchg<true>},
    {.name = "cmpxchg", .ops = "EG", .opcode = 0xb1, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = cmpxchg<false>},
};

constexpr auto all = [] {
    std::array<Row, rows.size() + std::size(more)> r{};
    for (std::size_t i = 0; i < rows.size(); ++i) r[i] = rows[i];
    for (std::size_t i = 0; i < std::size(more); ++i) r[rows.size() + i] = more[i];
    return r;
}();

} // namespace

std::span<Row const> int_alu_rows() { return all; }

} // namespace kxen::soft
