// Bit counting and CRC on general registers: popcnt, lzcnt, tzcnt (F3 0F B8/BD/BC) and crc32
// (F2 0F 38 F0/F1). Guests see POPCNT/ABM/SSE4.2 in CPUID (the host's), so compilers use them.
#include <array>
#include <bit>
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

// crc32 is CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) with no pre/post inversion:
// software does the ~ itself.
constexpr auto crc32c_table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (c & 1 ? 0x82f63b78u : 0);
        t[i] = c;
    }
    return t;
}();

Step popcnt(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto src = c.rm_get(size);
    if (!src) return std::unexpected(src.error());
    c.set(c.d.reg(), size, static_cast<std::uint64_t>(std::popcount(*src)));
    c.s.rflags = (c.s.rflags & ~fl::arith) | (*src == 0 ? fl::zf : 0);
    return {};
}

// lzcnt/tzcnt: CF says the source was zero (result = operand width), ZF that the result is.
template <bool Leading> Step count_zeros(Ctx& c) {
    unsigned const size = c.d.op_size, bits = size * 8;
    auto src = c.rm_get(size);
    if (!src) return std::unexpected(src.error());
    unsigned n;
    if (*src == 0) n = bits;
    else if (Leading) n = static_cast<unsigned>(std::countl_zero(*src)) - (64 - bits);
    else n = static_cast<unsigned>(std::countr_zero(*src));
    c.set(c.d.reg(), size, n);
    c.s.rflags = (c.s.rflags & ~fl::arith) | (*src == 0 ? fl::cf : 0) | (n == 0 ? fl::zf : 0);
    return {};
}

Step crc32(Ctx& c) {
    unsigned const size = c.d.opcode == 0xf0 ? 1 : c.d.op_size;
    auto src = c.rm_get(size);
    if (!src) return std::unexpected(src.error());
    auto crc = static_cast<std::uint32_t>(c.s.gpr[c.d.reg()]);
    for (unsigned i = 0; i < size; ++i)
        crc = (crc >> 8) ^ crc32c_table[(crc ^ (*src >> (8 * i))) & 0xff];
    c.set(c.d.reg(), 8, crc);   // r32 and r64 forms both zero-extend; flags are unaffected
    return {};
}

constexpr Row rows[] = {
    {.name = "popcnt", .ops = "GE", .opcode = 0xb8, .pfx = Pfx::pf3, .fn = popcnt},
    {.name = "lzcnt", .ops = "GE", .opcode = 0xbd, .pfx = Pfx::pf3, .fn = count_zeros<true>},
    {.name = "tzcnt", .ops = "GE", .opcode = 0xbc, .pfx = Pfx::pf3, .fn = count_zeros<false>},
    {.name = "crc32", .ops = "YB", .map = Map::m0f38, .opcode = 0xf0, .pfx = Pfx::pf2, .fn = crc32},
    {.name = "crc32", .ops = "YE", .map = Map::m0f38, .opcode = 0xf1, .pfx = Pfx::pf2, .fn = crc32},
};

} // namespace

std::span<Row const> bitops_rows() { return rows; }

} // namespace kxen::soft
