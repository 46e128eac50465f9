// BMI1/BMI2, the VEX-encoded general-register operations compilers emit for -march with BMI2
// (shlx is in DESIGN.md's list of what KVM's emulator fails on): andn bextr blsi blsmsk blsr
// bzhi mulx pdep pext rorx sarx shlx shrx. 32-bit operands unless VEX.W in 64-bit mode.
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

struct Operands {
    unsigned size;
    std::uint64_t rm, vvvv;
};

Got<Operands> operands(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto rm = c.rm_get(size);
    if (!rm) return std::unexpected(rm.error());
    return Operands{size, *rm, c.get(c.d.vex_vvvv, size)};
}

// SF and ZF from the result, CF as given; OF cleared, AF and PF (undefined) cleared too.
void logic_flags(Ctx& c, unsigned size, std::uint64_t result, bool cf) {
    bool const sf = (result >> (size * 8 - 1)) & 1;
    c.s.rflags = (c.s.rflags & ~fl::arith) | (result == 0 ? fl::zf : 0) | (sf ? fl::sf : 0) | (cf ? fl::cf : 0);
}

Step andn(Ctx& c) {
    auto o = operands(c);
    if (!o) return std::unexpected(o.error());
    std::uint64_t const r = ~o->vvvv & o->rm & size_mask(o->size);
    c.set(c.d.reg(), o->size, r);
    logic_flags(c, o->size, r, false);
    return {};
}

Step bextr(Ctx& c) {
    auto o = operands(c);
    if (!o) return std::unexpected(o.error());
    unsigned const start = o->vvvv & 0xff, len = (o->vvvv >> 8) & 0xff, bits = o->size * 8;
    std::uint64_t r = start < bits ? o->rm >> start : 0;
    if (len < 64) r &= (1ull << len) - 1;
    c.set(c.d.reg(), o->size, r);
    logic_flags(c, o->size, r, false);
    return {};
}

// blsr /1, blsmsk /2, blsi /3: the destination is VEX.vvvv.
Step bls(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto src = c.rm_get(size);
    if (!src) return std::unexpected(src.error());
    std::uint64_t const s = *src, m = size_mask(size);
    std::uint64_t r;
    switch (c.d.reg_field()) {
    case 1: r = s & (s - 1); break;
    case 2: r = (s ^ (s - 1)) & m; break;
    default: r = s & (0 - s); break;
    }
    c.set(c.d.vex_vvvv, size, r);
    logic_flags(c, size, r, c.d.reg_field() == 3 ? s != 0 : s == 0);
    if (c.d.reg_field() == 2) c.s.rflags &= ~fl::zf;   // blsmsk: ZF is always cleared
    return {};
}

Step bzhi(Ctx& c) {
    auto o = operands(c);
    if (!o) return std::unexpected(o.error());
    unsigned const n = o->vvvv & 0xff, bits = o->size * 8;
    std::uint64_t const r = n < bits ? o->rm & ((1ull << n) - 1) : o->rm;
    c.set(c.d.reg(), o->size, r);
    logic_flags(c, o->size, r, n > bits - 1);
    return {};
}

// pdep: scatter the low bits of vvvv to the set bits of the mask; pext: gather them back.
template <bool Deposit> Step pdep_pext(Ctx& c) {
    auto o = operands(c);
    if (!o) return std::unexpected(o.error());
    std::uint64_t r = 0, k = 1;
    for (std::uint64_t mask = o->rm; mask; mask &= mask - 1, k <<= 1) {
        std::uint64_t const bit = mask & (0 - mask);
        if (Deposit ? (o->vvvv & k) : (o->vvvv & bit)) r |= Deposit ? bit : k;
    }
    c.set(c.d.reg(), o->size, r);
    return {};
}

Step mulx(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto src = c.rm_get(size);
    if (!src) return std::unexpected(src.error());
    auto const p = static_cast<unsigned __int128>(c.get(rdx, size)) * *src;
    unsigned const bits = size * 8;
    c.set(c.d.vex_vvvv, size, static_cast<std::uint64_t>(p) & size_mask(size));
    c.set(c.d.reg(), size, static_cast<std::uint64_t>(p >> bits) & size_mask(size));   // wins if same reg
    return {};
}

Step rorx(Ctx& c) {
    unsigned const size = c.d.op_size, bits = size * 8;
    auto src = c.rm_get(size);
    if (!src) return std::unexpected(src.error());
    unsigned const n = static_cast<unsigned>(c.d.imm) & (bits - 1);
    std::uint64_t const r = n ? (*src >> n) | (*src << (bits - n)) : *src;
    c.set(c.d.reg(), size, r & size_mask(size));
    return {};
}

// sarx (F3), shlx (66), shrx (F2): count from vvvv, masked to the operand width; no flags.
Step shiftx(Ctx& c) {
    auto o = operands(c);
    if (!o) return std::unexpected(o.error());
    unsigned const bits = o->size * 8, n = static_cast<unsigned>(o->vvvv) & (bits - 1);
    std::uint64_t r;
    if (c.d.mandatory == 0x66) {
        r = o->rm << n;
    } else if (c.d.mandatory == 0xf2) {
        r = o->rm >> n;
    } else {
        auto const v = static_cast<std::int64_t>(o->rm << (64 - bits)) >> (64 - bits);   // sign-extend
        r = static_cast<std::uint64_t>(v >> n);
    }
    c.set(c.d.reg(), o->size, r & size_mask(o->size));
    return {};
}

constexpr Map m38 = Map::m0f38;
constexpr Class vx = Class::vex;

constexpr Row rows[] = {
    {.name = "andn", .ops = "YHZ", .map = m38, .opcode = 0xf2, .cls = vx, .vex = true, .fn = andn},
    {.name = "bextr", .ops = "YZH", .map = m38, .opcode = 0xf7, .cls = vx, .vex = true, .fn = bextr},
    {.name = "blsr", .ops = "HZ", .map = m38, .opcode = 0xf3, .reg = 1, .cls = vx, .vex = true, .fn = bls},
    {.name = "blsmsk", .ops = "HZ", .map = m38, .opcode = 0xf3, .reg = 2, .cls = vx, .vex = true, .fn = bls},
    {.name = "blsi", .ops = "HZ", .map = m38, .opcode = 0xf3, .reg = 3, .cls = vx, .vex = true, .fn = bls},
    {.name = "bzhi", .ops = "YZH", .map = m38, .opcode = 0xf5, .cls = vx, .vex = true, .fn = bzhi},
    {.name = "pdep", .ops = "YHZ", .map = m38, .opcode = 0xf5, .pfx = Pfx::pf2, .cls = vx, .vex = true, .fn = pdep_pext<true>},
    {.name = "pext", .ops = "YHZ", .map = m38, .opcode = 0xf5, .pfx = Pfx::pf3, .cls = vx, .vex = true, .fn = pdep_pext<false>},
    {.name = "mulx", .ops = "YHZ", .map = m38, .opcode = 0xf6, .pfx = Pfx::pf2, .cls = vx, .vex = true, .fn = mulx},
    {.name = "rorx", .ops = "YZI", .map = Map::m0f3a, .opcode = 0xf0, .pfx = Pfx::pf2, .cls = vx, .vex = true, .fn = rorx},
    {.name = "sarx", .ops = "YZH", .map = m38, .opcode = 0xf7, .pfx = Pfx::pf3, .cls = vx, .vex = true, .fn = shiftx},
    {.name = "shlx", .ops = "YZH", .map = m38, .opcode = 0xf7, .pfx = Pfx::p66, .cls = vx, .vex = true, .fn = shiftx},
    {.name = "shrx", .ops = "YZH", .map = m38, .opcode = 0xf7, .pfx = Pfx::pf2, .cls = vx, .vex = true, .fn = shiftx},
};

} // namespace

std::span<Row const> bmi_rows() { return rows; }

} // namespace kxen::soft
