// Data movement and the small ones: mov (88-8b, b0-bf, c6/c7, a0-a3), movzx/movsx, movsxd, lea,
// xchg, cbw/cwde/cdqe, cwd/cdq/cqo, lahf/sahf, cmc/clc/stc/cld/std, xlat, setcc, cmovcc, the
// nop forms (90, f3 90 pause, 0f 1f, the 0f 18-1f hints, 0f 0d prefetch) and ud0/ud1/ud2.
#include "soft/int_flags.hpp"

namespace kxen::soft {
namespace {
using namespace integer;

template <bool Byte, bool ToRm> Step mov(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    if constexpr (ToRm) return c.rm_set(size, c.get(c.d.reg(), size));
    auto v = c.rm_get(size);
    if (!v) return std::unexpected(v.error());
    c.set(c.d.reg(), size, *v);
    return {};
}

// b0+r / b8+r: register in the opcode, REX.B extends it.
template <bool Byte> Step mov_imm_reg(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    c.set((c.d.opcode & 7) | ((c.d.rex & 1) << 3), size, c.d.imm);
    return {};
}

template <bool Byte> Step mov_imm_rm(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    return c.rm_set(size, imm_sx(c.d, size));
}

// a0-a3: the moffs is the (address-sized, zero-extended) displacement, ds unless overridden.
template <bool Byte, bool Store> Step mov_moffs(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    std::uint64_t const a = seg_addr(c, c.d.seg >= 0 ? c.d.seg : ds, static_cast<std::uint64_t>(c.d.disp));
    if constexpr (Store) {
        std::uint64_t const v = c.get(rax, size);
        return c.write(a, &v, size);
    }
    std::uint64_t v = 0;
    if (auto r = c.read(a, &v, size); !r) return r;
    c.set(rax, size, v);
    return {};
}

template <unsigned From, bool Signed> Step movx(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto v = c.rm_get(From);
    if (!v) return std::unexpected(v.error());
    c.set(c.d.reg(), size, Signed ? sign_extend(*v, From) : *v);
    return {};
}

// movsxd: sign-extends with REX.W; without it, a plain 32- or 16-bit load.
Step movsxd(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto v = c.rm_get(size == 8 ? 4 : size);
    if (!v) return std::unexpected(v.error());
    c.set(c.d.reg(), size, size == 8 ? sign_extend(*v, 4) : *v);
    return {};
}

Step lea(Ctx& c) {
    c.set(c.d.reg(), c.d.op_size, c.ea());
    return {};
}

Step undefined(Ctx&) { return fault(vec::ud, "#UD: undefined opcode"); }

// xchg with memory is locked whether or not LOCK is given.
template <bool Byte> Step xchg(Ctx& c) {
    unsigned const size = Byte ? 1 : c.d.op_size;
    std::uint64_t const r = c.get(c.d.reg(), size);
    if (!c.d.is_mem()) {
        std::uint64_t const m = c.get(c.d.rm(), size);
        c.set(c.d.rm(), size, r);
        c.set(c.d.reg(), size, m);
        return {};
    }
    std::uint64_t const a = c.mem_addr();
    std::uint64_t old = 0;
    if (auto st = c.read(a, &old, size); !st) return st;
    for (;;) {
        auto stored = c.cmpxchg(a, &old, &r, size);
        if (!stored) return std::unexpected(stored.error());
        if (*stored) break;
    }
    c.set(c.d.reg(), size, old);
    return {};
}

// 90+r. 90 itself (no REX.B) is nop, also with 66/REX.W, and f3 90 is pause: no upper-half
// zeroing of eax. 41 90 is xchg r8,rax.
Step xchg_ax(Ctx& c) {
    unsigned const reg = (c.d.opcode & 7) | ((c.d.rex & 1) << 3);
    if (reg == 0) return {};
    unsigned const size = c.d.op_size;
    std::uint64_t const a = c.get(rax, size), b = c.get(reg, size);
    c.set(rax, size, b);
    c.set(reg, size, a);
    return {};
}

Step cbw(Ctx& c) {   // cbw/cwde/cdqe
    unsigned const size = c.d.op_size;
    c.set(rax, size, sign_extend(c.get(rax, size / 2), size / 2));
    return {};
}

Step cwd(Ctx& c) {   // cwd/cdq/cqo
    unsigned const size = c.d.op_size;
    bool const neg = (c.get(rax, size) >> (size * 8 - 1)) & 1;
    c.set(rdx, size, neg ? ~0ull : 0);
    return {};
}

constexpr std::uint64_t lahf_bits = fl::sf | fl::zf | fl::af | fl::pf | fl::cf;

Step lahf(Ctx& c) {
    c.s.gpr[rax] = (c.s.gpr[rax] & ~0xff00ull) | (((c.s.rflags & lahf_bits) | 2) << 8);
    return {};
}
Step sahf(Ctx& c) {
    set_flags(c, lahf_bits, (c.s.gpr[rax] >> 8) & lahf_bits);
    return {};
}

template <std::uint64_t Bit, int How> Step flag_op(Ctx& c) {   // How: 0 clear, 1 set, 2 flip
    c.s.rflags = How == 0 ? c.s.rflags & ~Bit : How == 1 ? c.s.rflags | Bit : c.s.rflags ^ Bit;
    return {};
}

Step xlat(Ctx& c) {
    std::uint64_t const off = (c.s.gpr[rbx] + (c.s.gpr[rax] & 0xff)) & size_mask(c.d.addr_size);
    std::uint8_t v = 0;
    if (auto r = c.read(seg_addr(c, c.d.seg >= 0 ? c.d.seg : ds, off), &v, 1); !r) return r;
    c.s.gpr[rax] = (c.s.gpr[rax] & ~0xffull) | v;
    return {};
}

Step setcc(Ctx& c) { return c.rm_set(1, cond(c.s.rflags, c.d.opcode & 15) ? 1 : 0); }

// The source is read (and can fault) whatever the condition; a false 32-bit cmov still
// zero-extends the destination.
Step cmovcc(Ctx& c) {
    unsigned const size = c.d.op_size;
    auto v = c.rm_get(size);
    if (!v) return std::unexpected(v.error());
    c.set(c.d.reg(), size, cond(c.s.rflags, c.d.opcode & 15) ? *v : c.get(c.d.reg(), size));
    return {};
}

Step nop(Ctx&) { return {}; }

constexpr Row rows[] = {
    {.name = "mov", .ops = "BR", .map = Map::one, .opcode = 0x88, .pfx = Pfx::any, .in_place = true, .fn = mov<true, true>},
    {.name = "mov", .ops = "EG", .map = Map::one, .opcode = 0x89, .pfx = Pfx::any, .in_place = true, .fn = mov<false, true>},
    {.name = "mov", .ops = "RB", .map = Map::one, .opcode = 0x8a, .pfx = Pfx::any, .in_place = true, .fn = mov<true, false>},
    {.name = "mov", .ops = "GE", .map = Map::one, .opcode = 0x8b, .pfx = Pfx::any, .in_place = true, .fn = mov<false, false>},
    {.name = "mov", .ops = "I", .map = Map::one, .opcode = 0xb0, .count = 8, .pfx = Pfx::any, .in_place = true, .fn = mov_imm_reg<true>},
    {.name = "mov", .ops = "I", .map = Map::one, .opcode = 0xb8, .count = 8, .pfx = Pfx::any, .in_place = true, .fn = mov_imm_reg<false>},
    {.name = "mov", .ops = "BI", .map = Map::one, .opcode = 0xc6, .pfx = Pfx::any, .reg = 0, .in_place = true, .fn = mov_imm_rm<true>},
    {.name = "mov", .ops = "EI", .map = Map::one, .opcode = 0xc7, .pfx = Pfx::any, .reg = 0, .in_place = true, .fn = mov_imm_rm<false>},
    {.name = "mov", .map = Map::one, .opcode = 0xa0, .pfx = Pfx::any, .in_place = true, .fn = mov_moffs<true, false>},
    {.name = "mov", .map = Map::one, .opcode = 0xa1, .pfx = Pfx::any, .in_place = true, .fn = mov_moffs<false, false>},
    {.name = "mov", .map = Map::one, .opcode = 0xa2, .pfx = Pfx::any, .in_place = true, .fn = mov_moffs<true, true>},
    {.name = "mov", .map = Map::one, .opcode = 0xa3, .pfx = Pfx::any, .in_place = true, .fn = mov_moffs<false, true>},
    {.name = "movzx", .ops = "GB", .opcode = 0xb6, .pfx = Pfx::any, .in_place = true, .fn = movx<1, false>},
    {.name = "movzx", .ops = "GE", .opcode = 0xb7, .pfx = Pfx::any, .in_place = true, .fn = movx<2, false>},
    {.name = "movsx", .ops = "GB", .opcode = 0xbe, .pfx = Pfx::any, .in_place = true, .fn = movx<1, true>},
    {.name = "movsx", .ops = "GE", .opcode = 0xbf, .pfx = Pfx::any, .in_place = true, .fn = movx<2, true>},
    {.name = "movsxd", .ops = "GE", .map = Map::one, .opcode = 0x63, .pfx = Pfx::any, .mode = Mode::only64, .in_place = true, .fn = movsxd},
    {.name = "lea", .ops = "GM", .map = Map::one, .opcode = 0x8d, .pfx = Pfx::any, .mod = Mod::mem, .in_place = true, .fn = lea},
    {.name = "lea", .map = Map::one, .opcode = 0x8d, .pfx = Pfx::any, .mod = Mod::reg, .in_place = true, .fn = undefined},
    {.name = "xchg", .ops = "BR", .map = Map::one, .opcode = 0x86, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = xchg<true>},
    {.name = "xchg", .ops = "EG", .map = Map::one, .opcode = 0x87, .pfx = Pfx::any, .lockable = true, .in_place = true, .fn = xchg<false>},
    {.name = "pause", .map = Map::one, .opcode = 0x90, .pfx = Pfx::pf3, .in_place = true, .fn = xchg_ax},
    {.name = "xchg", .map = Map::one, .opcode = 0x90, .count = 8, .pfx = Pfx::any, .in_place = true, .fn = xchg_ax},
    {.name = "cbw", .map = Map::one, .opcode = 0x98, .pfx = Pfx::any, .in_place = true, .fn = cbw},
    {.name = "cwd", .map = Map::one, .opcode = 0x99, .pfx = Pfx::any, .in_place = true, .fn = cwd},
    {.name = "sahf", .map = Map::one, .opcode = 0x9e, .pfx = Pfx::any, .in_place = true, .fn = sahf},
    {.name = "lahf", .map = Map::one, .opcode = 0x9f, .pfx = Pfx::any, .in_place = true, .fn = lahf},
    {.name = "cmc", .map = Map::one, .opcode = 0xf5, .pfx = Pfx::any, .in_place = true, .fn = flag_op<fl::cf, 2>},
    {.name = "clc", .map = Map::one, .opcode = 0xf8, .pfx = Pfx::any, .in_place = true, .fn = flag_op<fl::cf, 0>},
    {.name = "stc", .map = Map::one, .opcode = 0xf9, .pfx = Pfx::any, .in_place = true, .fn = flag_op<fl::cf, 1>},
    {.name = "cld", .map = Map::one, .opcode = 0xfc, .pfx = Pfx::any, .in_place = true, .fn = flag_op<df, 0>},
    {.name = "std", .map = Map::one, .opcode = 0xfd, .pfx = Pfx::any, .in_place = true, .fn = flag_op<df, 1>},
    {.name = "xlat", .map = Map::one, .opcode = 0xd7, .pfx = Pfx::any, .in_place = true, .fn = xlat},
    {.name = "setcc", .ops = "B", .opcode = 0x90, .count = 16, .pfx = Pfx::any, .in_place = true, .fn = setcc},
    {.name = "cmovcc", .ops = "GE", .opcode = 0x40, .count = 16, .pfx = Pfx::any, .in_place = true, .fn = cmovcc},
    {.name = "nop", .ops = "E", .opcode = 0x18, .count = 8, .pfx = Pfx::any, .in_place = true, .fn = nop},
    {.name = "prefetch", .ops = "M", .opcode = 0x0d, .pfx = Pfx::any, .mod = Mod::mem, .in_place = true, .fn = nop},
    {.name = "ud2", .opcode = 0x0b, .pfx = Pfx::any, .in_place = true, .fn = undefined},
    {.name = "ud1", .opcode = 0xb9, .pfx = Pfx::any, .in_place = true, .fn = undefined},
    {.name = "ud0", .opcode = 0xff, .pfx = Pfx::any, .in_place = true, .fn = undefined},
};

} // namespace

std::span<Row const> int_data_rows() { return rows; }

} // namespace kxen::soft
