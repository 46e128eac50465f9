// bt/bts/btr/btc (0f a3/ab/b3/bb, 0f ba /4-/7), bsf/bsr (0f bc/bd), bswap (0f c8+r) and movbe
// (0f 38 f0/f1).
#include "soft/int_flags.hpp"

namespace kxen::soft {
namespace {
using namespace integer;

enum BitOp : unsigned { bt, bts, btr, btc };

std::uint64_t apply(unsigned op, std::uint64_t v, unsigned bit) {
    std::uint64_t const m = 1ull << bit;
    switch (op) {
    case bts: return v | m;
    case btr: return v & ~m;
    case btc: return v ^ m;
    default: return v;
    }
}

// Imm: 0f ba with an imm8 offset taken modulo the operand width. The register forms take a
// signed operand-sized offset that, on memory, can select bits outside the operand: the access
// moves by whole operands from the ModRM address.
template <unsigned Op, bool Imm> Step bit_op(Ctx& c) {
    unsigned const size = c.d.op_size, bits = size * 8;
    std::uint64_t const off = Imm ? c.d.imm : c.get(c.d.reg(), size);
    unsigned const bit = static_cast<unsigned>(off) & (bits - 1);
    bool old;
    if (!c.d.is_mem()) {
        std::uint64_t const v = c.get(c.d.rm(), size);
        old = (v >> bit) & 1;
        if (Op != bt) c.set(c.d.rm(), size, apply(Op, v, bit));
    } else {
        std::uint64_t a = c.mem_addr();
        if (!Imm) {
            auto const soff = static_cast<std::int64_t>(sign_extend(off, size));
            a += static_cast<std::uint64_t>((soff >> (bits == 64 ? 6 : bits == 32 ? 5 : 4)) * static_cast<std::int64_t>(size));
            if (!c.d.long64) a &= 0xffffffff;
        }
        std::uint64_t v = 0;
        if (auto r = c.read(a, &v, size); !r) return r;
        if (Op != bt) {
            if (c.d.lock) {
                for (;;) {
                    std::uint64_t desired = apply(Op, v, bit);
                    auto stored = c.cmpxchg(a, &v, &desired, size);
                    if (!stored) return std::unexpected(stored.error());
                    if (*stored) break;
                }
            } else {
                std::uint64_t const n = apply(Op, v, bit);
                if (auto r = c.write(a, &n, size); !r) return r;
            }
        }
        old = (v >> bit) & 1;
    }
    set_flags(c, fl::cf, old ? fl::cf : 0);
    return {};
}

template <bool Reverse> Step bit_scan(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto src = c.rm_get(size);
    if (!src) return std::unexpected(src.error());
    if (*src == 0) {
        c.s.rflags |= fl::zf;   // the destination keeps its value
        return {};
    }
    unsigned const n = Reverse ? 63 - static_cast<unsigned>(__builtin_clzll(*src))
                               : static_cast<unsigned>(__builtin_ctzll(*src));
    c.set(c.d.reg(), size, n);
    c.s.rflags &= ~fl::zf;
    return {};
}

std::uint64_t swap_bytes(std::uint64_t v, unsigned size) {
    switch (size) {
    case 2: return __builtin_bswap16(static_cast<std::uint16_t>(v));
    case 4: return __builtin_bswap32(static_cast<std::uint32_t>(v));
    default: return __builtin_bswap64(v);
    }
}

// bswap of a 16-bit register is undefined; processors clear it, so this does too.
Step bswap(Ctx& c) {
    unsigned const reg = (c.d.opcode & 7) | ((c.d.rex & 1) << 3);
    unsigned const size = c.d.op_size;
    c.set(reg, size, size == 2 ? 0 : swap_bytes(c.get(reg, size), size));
    return {};
}

Step movbe_load(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto v = c.rm_get(size);
    if (!v) return std::unexpected(v.error());
    c.set(c.d.reg(), size, swap_bytes(*v, size));
    return {};
}

Step movbe_store(Ctx& c) {
    unsigned const size = c.d.op_size;
    return c.rm_set(size, swap_bytes(c.get(c.d.reg(), size), size));
}

constexpr Row rows[] = {
    {.name = "bt", .ops = "EG", .opcode = 0xa3, .pfx = Pfx::any, .in_place = true, .fn = bit_op<bt, false>},
    {.name = "bts", .ops = "EG", .opcode = 0xab, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = bit_op<bts, false>},
    {.name = "btr", .ops = "EG", .opcode = 0xb3, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = bit_op<btr, false>},
    {.name = "btc", .ops = "EG", .opcode = 0xbb, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = bit_op<btc, false>},
    {.name = "bt", .ops = "EI", .opcode = 0xba, .pfx = Pfx::any, .reg = 4, .in_place = true, .fn = bit_op<bt, true>},
    {.name = "bts", .ops = "EI", .opcode = 0xba, .pfx = Pfx::any, .reg = 5, .lockable = true, .in_place = true, .fn = bit_op<bts, true>},
    {.name = "btr", .ops = "EI", .opcode = 0xba, .pfx = Pfx::any, .reg = 6, .lockable = true, .in_place = true, .fn = bit_op<btr, true>},
    {.name = "btc", .ops = "EI", .opcode = 0xba, .pfx = Pfx::any, .reg = 7, .lockable = true, .in_place = true, .fn = bit_op<btc, true>},
    // f3 0f bc/bd (tzcnt/lzcnt) match earlier, in bitops.cpp.
    {.name = "bsf", .ops = "GE", .opcode = 0xbc, .pfx = Pfx::any, .in_place = true, .fn = bit_scan<false>},
    {.name = "bsr", .ops = "GE", .opcode = 0xbd, .pfx = Pfx::any, .in_place = true, .fn = bit_scan<true>},
    {.name = "bswap", .opcode = 0xc8, .count = 8, .pfx = Pfx::any, .in_place = true, .fn = bswap},
    // f2 0f 38 f0/f1 are crc32 (bitops.cpp).
    {.name = "movbe", .ops = "GM", .map = Map::m0f38, .opcode = 0xf0, .pfx = Pfx::any, .mod = Mod::mem, .in_place = true, .fn = movbe_load},
    {.name = "movbe", .ops = "MG", .map = Map::m0f38, .opcode = 0xf1, .pfx = Pfx::any, .mod = Mod::mem, .in_place = true, .fn = movbe_store},
};

} // namespace

std::span<Row const> int_bits_rows() { return rows; }

} // namespace kxen::soft
