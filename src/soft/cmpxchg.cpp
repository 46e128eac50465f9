// cmpxchg8b / cmpxchg16b (0F C7 /1): compare edx:eax (rdx:rax) with memory, store ecx:ebx
// (rcx:rbx) if equal, else load memory into edx:eax. Only ZF changes. The exchange itself goes
// through Env::cmpxchg so the glue can make it atomic against the guest's other vCPUs.
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

template <unsigned Half> Step cmpxchg(Ctx& c) {   // Half: 4 (8b) or 8 (16b) bytes per register
    std::uint64_t const a = c.mem_addr();
    if (Half == 8)
        if (auto r = c.aligned(a, 16, "cmpxchg16b"); !r) return r;
    std::uint64_t const mask = size_mask(Half);
    std::uint64_t expected[2] = {c.s.gpr[rax] & mask, c.s.gpr[rdx] & mask};
    std::uint64_t const desired[2] = {c.s.gpr[rbx] & mask, c.s.gpr[rcx] & mask};
    std::uint8_t exp_bytes[2 * Half], des_bytes[2 * Half];
    for (unsigned i = 0; i < 2; ++i) {
        std::memcpy(exp_bytes + i * Half, &expected[i], Half);
        std::memcpy(des_bytes + i * Half, &desired[i], Half);
    }
    auto swapped = c.cmpxchg(a, exp_bytes, des_bytes, 2 * Half);
    if (!swapped) return std::unexpected(swapped.error());
    if (*swapped) {
        c.s.rflags |= fl::zf;
    } else {
        c.s.rflags &= ~fl::zf;
        std::uint64_t cur[2] = {0, 0};
        std::memcpy(&cur[0], exp_bytes, Half);
        std::memcpy(&cur[1], exp_bytes + Half, Half);
        c.set(rax, Half, cur[0]);   // 32-bit loads zero the upper halves, as on hardware
        c.set(rdx, Half, cur[1]);
    }
    return {};
}

constexpr Row rows[] = {
    {.name = "cmpxchg8b", .ops = "M", .opcode = 0xc7, .pfx = Pfx::any, .mod = Mod::mem, .reg = 1,
     .w = W::w0, .lockable = true, .fn = cmpxchg<4>},
    {.name = "cmpxchg16b", .ops = "M", .opcode = 0xc7, .pfx = Pfx::any, .mod = Mod::mem, .reg = 1,
     .w = W::w1, .lockable = true, .fn = cmpxchg<8>},
};

} // namespace

std::span<Row const> cmpxchg_rows() { return rows; }

} // namespace kxen::soft
