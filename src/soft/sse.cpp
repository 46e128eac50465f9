// SSE without arithmetic: 128-bit logic (pxor/xorps/... zeroing is the common case, but any
// operands work), moves between XMM, memory and general registers, and ldmxcsr/stmxcsr.
// Nothing here rounds, so MXCSR only matters to ldmxcsr. Legacy-SSE 16-byte memory operands
// must be aligned (#GP) except for the explicitly unaligned moves.
#include "soft/host_cpu.hpp"
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

constexpr Xmm zero{0, 0};

Step logic(Ctx& c) {
    auto src = c.rm_xmm(16, 16);
    if (!src) return std::unexpected(src.error());
    Xmm& dst = c.s.xmm[c.d.reg()];
    switch (c.d.opcode) {
    case 0xef: case 0x57: dst = {dst.lo ^ src->lo, dst.hi ^ src->hi}; break;     // xor
    case 0xdb: case 0x54: dst = {dst.lo & src->lo, dst.hi & src->hi}; break;     // and
    case 0xdf: case 0x55: dst = {~dst.lo & src->lo, ~dst.hi & src->hi}; break;   // andn
    default: dst = {dst.lo | src->lo, dst.hi | src->hi}; break;                  // or
    }
    return {};
}

// xmm <- xmm/m(size); a memory source of less than 16 bytes zeroes the rest of the register,
// a register source of less than 16 bytes (movss/movsd) merges into the low part.
template <unsigned Size, std::size_t Align> Step load(Ctx& c) {
    auto src = c.rm_xmm(Size, Align);
    if (!src) return std::unexpected(src.error());
    Xmm& dst = c.s.xmm[c.d.reg()];
    if (Size == 16 || c.d.is_mem()) dst = *src;
    else if (Size == 8) dst.lo = src->lo;
    else dst.lo = (dst.lo & ~0xffffffffull) | (src->lo & 0xffffffff);
    return {};
}

// xmm/m(size) <- xmm; into a register as in load (merge), except movq (zeroes, see movq_store).
template <unsigned Size, std::size_t Align> Step store(Ctx& c) {
    Xmm const src = c.s.xmm[c.d.reg()];
    if (!c.d.is_mem()) {
        Xmm& dst = c.s.xmm[c.d.rm()];
        if (Size == 16) dst = src;
        else if (Size == 8) dst.lo = src.lo;
        else dst.lo = (dst.lo & ~0xffffffffull) | (src.lo & 0xffffffff);
        return {};
    }
    std::uint64_t const a = c.mem_addr();
    if (auto r = c.aligned(a, Align, "memory"); !r) return r;
    return c.write(a, &src, Size);
}

// f3 0f 7e: movq xmm, xmm/m64, upper half zeroed for both forms.
Step movq_load(Ctx& c) {
    auto src = c.rm_xmm(8);
    if (!src) return std::unexpected(src.error());
    c.s.xmm[c.d.reg()] = {src->lo, 0};
    return {};
}

// 66 0f d6: movq xmm/m64, xmm; a register destination gets its upper half zeroed.
Step movq_store(Ctx& c) {
    Xmm const src = c.s.xmm[c.d.reg()];
    if (!c.d.is_mem()) {
        c.s.xmm[c.d.rm()] = {src.lo, 0};
        return {};
    }
    return c.store(c.mem_addr(), src.lo);
}

// 66 (REX.W) 0f 6e: movd/movq xmm, r/m32/64; zero-extended into the whole register.
Step movd_to_xmm(Ctx& c) {
    unsigned const size = c.d.rex_w() ? 8 : 4;
    auto v = c.rm_get(size);
    if (!v) return std::unexpected(v.error());
    c.s.xmm[c.d.reg()] = {*v, 0};
    return {};
}

// 66 (REX.W) 0f 7e: movd/movq r/m32/64, xmm; a 32-bit register destination is zero-extended.
Step movd_from_xmm(Ctx& c) {
    unsigned const size = c.d.rex_w() ? 8 : 4;
    return c.rm_set(size, c.s.xmm[c.d.reg()].lo & size_mask(size));
}

Step ldmxcsr(Ctx& c) {
    auto v = c.load<std::uint32_t>(c.mem_addr());
    if (!v) return std::unexpected(v.error());
    if (*v & ~mxcsr_mask()) return fault(vec::gp, "#GP: ldmxcsr sets reserved MXCSR bits");
    c.s.mxcsr = *v;
    return {};
}

Step stmxcsr(Ctx& c) { return c.store(c.mem_addr(), c.s.mxcsr); }

constexpr Row rows[] = {
    {.name = "pxor", .ops = "VW", .opcode = 0xef, .pfx = Pfx::p66, .cls = Class::sse, .fn = logic},
    {.name = "pand", .ops = "VW", .opcode = 0xdb, .pfx = Pfx::p66, .cls = Class::sse, .fn = logic},
    {.name = "pandn", .ops = "VW", .opcode = 0xdf, .pfx = Pfx::p66, .cls = Class::sse, .fn = logic},
    {.name = "por", .ops = "VW", .opcode = 0xeb, .pfx = Pfx::p66, .cls = Class::sse, .fn = logic},
    {.name = "xorps", .ops = "VW", .opcode = 0x57, .cls = Class::sse, .fn = logic},
    {.name = "andps", .ops = "VW", .opcode = 0x54, .cls = Class::sse, .fn = logic},
    {.name = "andnps", .ops = "VW", .opcode = 0x55, .cls = Class::sse, .fn = logic},
    {.name = "orps", .ops = "VW", .opcode = 0x56, .cls = Class::sse, .fn = logic},
    {.name = "xorpd", .ops = "VW", .opcode = 0x57, .pfx = Pfx::p66, .cls = Class::sse, .fn = logic},
    {.name = "andpd", .ops = "VW", .opcode = 0x54, .pfx = Pfx::p66, .cls = Class::sse, .fn = logic},
    {.name = "andnpd", .ops = "VW", .opcode = 0x55, .pfx = Pfx::p66, .cls = Class::sse, .fn = logic},
    {.name = "orpd", .ops = "VW", .opcode = 0x56, .pfx = Pfx::p66, .cls = Class::sse, .fn = logic},

    {.name = "movdqa", .ops = "VW", .opcode = 0x6f, .pfx = Pfx::p66, .cls = Class::sse, .fn = load<16, 16>},
    {.name = "movdqa", .ops = "WV", .opcode = 0x7f, .pfx = Pfx::p66, .cls = Class::sse, .fn = store<16, 16>},
    {.name = "movdqu", .ops = "VW", .opcode = 0x6f, .pfx = Pfx::pf3, .cls = Class::sse, .fn = load<16, 1>},
    {.name = "movdqu", .ops = "WV", .opcode = 0x7f, .pfx = Pfx::pf3, .cls = Class::sse, .fn = store<16, 1>},
    {.name = "movaps", .ops = "VW", .opcode = 0x28, .cls = Class::sse, .fn = load<16, 16>},
    {.name = "movaps", .ops = "WV", .opcode = 0x29, .cls = Class::sse, .fn = store<16, 16>},
    {.name = "movapd", .ops = "VW", .opcode = 0x28, .pfx = Pfx::p66, .cls = Class::sse, .fn = load<16, 16>},
    {.name = "movapd", .ops = "WV", .opcode = 0x29, .pfx = Pfx::p66, .cls = Class::sse, .fn = store<16, 16>},
    {.name = "movups", .ops = "VW", .opcode = 0x10, .cls = Class::sse, .fn = load<16, 1>},
    {.name = "movups", .ops = "WV", .opcode = 0x11, .cls = Class::sse, .fn = store<16, 1>},
    {.name = "movupd", .ops = "VW", .opcode = 0x10, .pfx = Pfx::p66, .cls = Class::sse, .fn = load<16, 1>},
    {.name = "movupd", .ops = "WV", .opcode = 0x11, .pfx = Pfx::p66, .cls = Class::sse, .fn = store<16, 1>},
    {.name = "movss", .ops = "VW", .opcode = 0x10, .pfx = Pfx::pf3, .cls = Class::sse, .fn = load<4, 1>},
    {.name = "movss", .ops = "WV", .opcode = 0x11, .pfx = Pfx::pf3, .cls = Class::sse, .fn = store<4, 1>},
    {.name = "movsd", .ops = "VW", .opcode = 0x10, .pfx = Pfx::pf2, .cls = Class::sse, .fn = load<8, 1>},
    {.name = "movsd", .ops = "WV", .opcode = 0x11, .pfx = Pfx::pf2, .cls = Class::sse, .fn = store<8, 1>},
    {.name = "movntdq", .ops = "MV", .opcode = 0xe7, .pfx = Pfx::p66, .mod = Mod::mem, .cls = Class::sse, .fn = store<16, 16>},
    {.name = "movntps", .ops = "MV", .opcode = 0x2b, .mod = Mod::mem, .cls = Class::sse, .fn = store<16, 16>},
    {.name = "movntpd", .ops = "MV", .opcode = 0x2b, .pfx = Pfx::p66, .mod = Mod::mem, .cls = Class::sse, .fn = store<16, 16>},
    {.name = "movntdqa", .ops = "VM", .map = Map::m0f38, .opcode = 0x2a, .pfx = Pfx::p66, .mod = Mod::mem, .cls = Class::sse, .fn = load<16, 16>},

    {.name = "movq", .ops = "VW", .opcode = 0x7e, .pfx = Pfx::pf3, .cls = Class::sse, .fn = movq_load},
    {.name = "movq", .ops = "WV", .opcode = 0xd6, .pfx = Pfx::p66, .cls = Class::sse, .fn = movq_store},
    {.name = "movd", .ops = "VZ", .opcode = 0x6e, .pfx = Pfx::p66, .w = W::w0, .cls = Class::sse, .fn = movd_to_xmm},
    {.name = "movq", .ops = "VZ", .opcode = 0x6e, .pfx = Pfx::p66, .w = W::w1, .cls = Class::sse, .fn = movd_to_xmm},
    {.name = "movd", .ops = "ZV", .opcode = 0x7e, .pfx = Pfx::p66, .w = W::w0, .cls = Class::sse, .fn = movd_from_xmm},
    {.name = "movq", .ops = "ZV", .opcode = 0x7e, .pfx = Pfx::p66, .w = W::w1, .cls = Class::sse, .fn = movd_from_xmm},

    {.name = "ldmxcsr", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 2, .cls = Class::sse, .fn = ldmxcsr},
    {.name = "stmxcsr", .ops = "M", .opcode = 0xae, .mod = Mod::mem, .reg = 3, .cls = Class::sse, .fn = stmxcsr},
};

} // namespace

std::span<Row const> sse_rows() { return rows; }

} // namespace kxen::soft
