// x87 loads, stores, register moves and control: fld/fild/constants, fst/fstp/fist/fistp/
// fisttp, fxch, ffree, fchs, fabs, fninit, fnclex, fldcw, fnstcw, fnstsw, fwait. Conversions
// run on the host FPU (host_x87.hpp); the arithmetic is in x87_arith.cpp.
#include "soft/table.hpp"
#include "soft/x87_stack.hpp"

namespace kxen::soft {
namespace {

using host_x87::Const;
using host_x87::Fmt;

constexpr unsigned size_of(Fmt f) {
    switch (f) {
    case Fmt::i16: return 2;
    case Fmt::f32: case Fmt::i32: return 4;
    default: return 8;
    }
}

template <Fmt F> Step fld(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    std::uint8_t buf[8];
    if (auto r = c.read(c.mem_addr(), buf, size_of(F)); !r) return r;
    F80 v;
    std::uint16_t const sw = host_x87::load(F, buf, v, c.s.fcw);
    if (x.empty(7))   // on overflow the indefinite is pushed and conversion flags don't count
        if (auto r = x.raise(sw); !r) return r;
    return x.push(v);
}

Step fld_m80(Ctx& c) {   // no conversion, so no exceptions but overflow, even for SNaN
    note_x87(c);
    auto v = c.load<F80>(c.mem_addr());
    if (!v) return std::unexpected(v.error());
    return X87{c.s}.push(*v);
}

Step fld_st(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    auto v = x.read(c.d.rm_field());
    if (!v) return std::unexpected(v.error());
    return x.push(*v);
}

template <Const K> Step fld_const(Ctx& c) {
    note_x87(c);
    F80 v;
    host_x87::constant(K, v, c.s.fcw);
    return X87{c.s}.push(v);
}

// fst/fstp/fist/fistp/fisttp to memory: the host rounds per the guest's RC/PC and says
// whether it rounded up (C1); an empty ST(0) stores the indefinite value.
template <Fmt F, bool Pop, bool Truncate = false> Step fst(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    auto v = x.read(0);
    if (!v) return std::unexpected(v.error());
    std::uint8_t buf[8];
    std::uint16_t const sw = host_x87::store(F, *v, buf, c.s.fcw, Truncate);
    if (auto r = x.raise(sw); !r) return r;
    x.set_cc(fsw::c1, sw);
    if (auto r = c.write(c.mem_addr(), buf, size_of(F)); !r) return r;
    if (Pop) x.pop();
    return {};
}

Step fstp_m80(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    auto v = x.read(0);
    if (!v) return std::unexpected(v.error());
    x.set_cc(fsw::c1, 0);
    if (auto r = c.store(c.mem_addr(), *v); !r) return r;
    x.pop();
    return {};
}

template <bool Pop> Step fst_st(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    auto v = x.read(0);
    if (!v) return std::unexpected(v.error());
    x.set_cc(fsw::c1, 0);
    x.set_st(c.d.rm_field(), *v);
    if (Pop) x.pop();
    return {};
}

Step fxch(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    unsigned const i = c.d.rm_field();
    auto a = x.read(0);
    if (!a) return std::unexpected(a.error());
    auto b = x.read(i);
    if (!b) return std::unexpected(b.error());
    x.set_cc(fsw::c1, 0);
    x.set_st(0, *b);
    x.set_st(i, *a);
    return {};
}

Step ffree(Ctx& c) {
    note_x87(c);
    X87{c.s}.free(c.d.rm_field());
    return {};
}

template <bool Abs> Step fsign(Ctx& c) {   // fchs / fabs: only the sign bit, never an exception
    note_x87(c);
    X87 x{c.s};
    auto v = x.read(0);
    if (!v) return std::unexpected(v.error());
    v->b[9] = static_cast<std::uint8_t>(Abs ? v->b[9] & 0x7f : v->b[9] ^ 0x80);
    x.set_cc(fsw::c1, 0);
    x.set_st(0, *v);
    return {};
}

template <int Delta> Step fincdec(Ctx& c) {   // fincstp / fdecstp: TOP only, tags unchanged
    note_x87(c);
    X87 x{c.s};
    x.set_top(x.top() + Delta);
    x.set_cc(fsw::c1, 0);
    return {};
}

Step fnop(Ctx& c) {
    note_x87(c);
    return {};
}

// fninit keeps the register contents (physical order) and empties them all.
Step fninit(Ctx& c) {
    X87{c.s}.set_top(0);
    c.s.fcw = 0x037f;
    c.s.fsw = 0;
    c.s.ftwx = 0;
    c.s.fop = 0;
    c.s.fip = c.s.fdp = 0;
    return {};
}

Step fnclex(Ctx& c) {
    c.s.fsw &= static_cast<std::uint16_t>(~(fsw::flags | fsw::sf | fsw::es | fsw::busy));
    return {};
}

// FCW bit 6 reads as 1 and bits 13-15 as 0 (checked on the host: fldcw 0 / 0xffff give
// 0x0040 / 0x1f7f). Unmasking a pending exception sets ES (and B): #MF at the next wait.
Step fldcw(Ctx& c) {
    auto v = c.load<std::uint16_t>(c.mem_addr());
    if (!v) return std::unexpected(v.error());
    c.s.fcw = static_cast<std::uint16_t>((*v & 0x1f3f) | 0x40);
    bool const pending = c.s.fsw & ~c.s.fcw & fsw::flags;
    c.s.fsw = static_cast<std::uint16_t>((c.s.fsw & ~(fsw::es | fsw::busy)) | (pending ? fsw::es | fsw::busy : 0));
    return {};
}

Step fnstcw(Ctx& c) { return c.store(c.mem_addr(), c.s.fcw); }
Step fnstsw(Ctx& c) { return c.store(c.mem_addr(), c.s.fsw); }
Step fnstsw_ax(Ctx& c) {
    c.set(rax, 2, c.s.fsw);
    return {};
}

Step fwait(Ctx& c) {
    if ((c.s.cr0 & (cr0::mp | cr0::ts)) == (cr0::mp | cr0::ts)) return fault(vec::nm, "#NM: fwait with CR0.MP and CR0.TS");
    if (c.s.fsw & fsw::es) return fault(vec::mf, "#MF: pending x87 exception");
    return {};
}

constexpr Map one = Map::one;
constexpr Class x87 = Class::x87;

constexpr Row rows[] = {
    {.name = "fld", .ops = "M", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::mem, .reg = 0, .cls = x87, .fn = fld<Fmt::f32>},
    {.name = "fld", .ops = "M", .map = one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::mem, .reg = 0, .cls = x87, .fn = fld<Fmt::f64>},
    {.name = "fld", .ops = "M", .map = one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::mem, .reg = 5, .cls = x87, .fn = fld_m80},
    {.name = "fld", .ops = "S", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 0, .cls = x87, .fn = fld_st},
    {.name = "fild", .ops = "M", .map = one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::mem, .reg = 0, .cls = x87, .fn = fld<Fmt::i16>},
    {.name = "fild", .ops = "M", .map = one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::mem, .reg = 0, .cls = x87, .fn = fld<Fmt::i32>},
    {.name = "fild", .ops = "M", .map = one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::mem, .reg = 5, .cls = x87, .fn = fld<Fmt::i64>},
    {.name = "fld1", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .rm = 0, .cls = x87, .fn = fld_const<Const::one>},
    {.name = "fldl2t", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .rm = 1, .cls = x87, .fn = fld_const<Const::l2t>},
    {.name = "fldl2e", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .rm = 2, .cls = x87, .fn = fld_const<Const::l2e>},
    {.name = "fldpi", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .rm = 3, .cls = x87, .fn = fld_const<Const::pi>},
    {.name = "fldlg2", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .rm = 4, .cls = x87, .fn = fld_const<Const::lg2>},
    {.name = "fldln2", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .rm = 5, .cls = x87, .fn = fld_const<Const::ln2>},
    {.name = "fldz", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .rm = 6, .cls = x87, .fn = fld_const<Const::zero>},

    {.name = "fst", .ops = "M", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::mem, .reg = 2, .cls = x87, .fn = fst<Fmt::f32, false>},
    {.name = "fstp", .ops = "M", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::mem, .reg = 3, .cls = x87, .fn = fst<Fmt::f32, true>},
    {.name = "fst", .ops = "M", .map = one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::mem, .reg = 2, .cls = x87, .fn = fst<Fmt::f64, false>},
    {.name = "fstp", .ops = "M", .map = one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::mem, .reg = 3, .cls = x87, .fn = fst<Fmt::f64, true>},
    {.name = "fstp", .ops = "M", .map = one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::mem, .reg = 7, .cls = x87, .fn = fstp_m80},
    {.name = "fist", .ops = "M", .map = one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::mem, .reg = 2, .cls = x87, .fn = fst<Fmt::i16, false>},
    {.name = "fistp", .ops = "M", .map = one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::mem, .reg = 3, .cls = x87, .fn = fst<Fmt::i16, true>},
    {.name = "fist", .ops = "M", .map = one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::mem, .reg = 2, .cls = x87, .fn = fst<Fmt::i32, false>},
    {.name = "fistp", .ops = "M", .map = one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::mem, .reg = 3, .cls = x87, .fn = fst<Fmt::i32, true>},
    {.name = "fistp", .ops = "M", .map = one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::mem, .reg = 7, .cls = x87, .fn = fst<Fmt::i64, true>},
    {.name = "fisttp", .ops = "M", .map = one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::mem, .reg = 1, .cls = x87, .fn = fst<Fmt::i16, true, true>},
    {.name = "fisttp", .ops = "M", .map = one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::mem, .reg = 1, .cls = x87, .fn = fst<Fmt::i32, true, true>},
    {.name = "fisttp", .ops = "M", .map = one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::mem, .reg = 1, .cls = x87, .fn = fst<Fmt::i64, true, true>},
    {.name = "fst", .ops = "S", .map = one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::reg, .reg = 2, .cls = x87, .fn = fst_st<false>},
    {.name = "fstp", .ops = "S", .map = one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::reg, .reg = 3, .cls = x87, .fn = fst_st<true>},

    {.name = "fxch", .ops = "S", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 1, .cls = x87, .fn = fxch},
    {.name = "ffree", .ops = "S", .map = one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::reg, .reg = 0, .cls = x87, .fn = ffree},
    {.name = "fnop", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 2, .rm = 0, .cls = x87, .fn = fnop},
    {.name = "fchs", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 4, .rm = 0, .cls = x87, .fn = fsign<false>},
    {.name = "fabs", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 4, .rm = 1, .cls = x87, .fn = fsign<true>},
    {.name = "fdecstp", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 6, .rm = 6, .cls = x87, .fn = fincdec<-1>},
    {.name = "fincstp", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 6, .rm = 7, .cls = x87, .fn = fincdec<1>},

    {.name = "fninit", .map = one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::reg, .reg = 4, .rm = 3, .cls = x87, .fn = fninit},
    {.name = "fnclex", .map = one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::reg, .reg = 4, .rm = 2, .cls = x87, .fn = fnclex},
    {.name = "fldcw", .ops = "M", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::mem, .reg = 5, .cls = x87, .fn = fldcw},
    {.name = "fnstcw", .ops = "M", .map = one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::mem, .reg = 7, .cls = x87, .fn = fnstcw},
    {.name = "fnstsw", .ops = "M", .map = one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::mem, .reg = 7, .cls = x87, .fn = fnstsw},
    {.name = "fnstsw", .ops = "A", .map = one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::reg, .reg = 4, .rm = 0, .cls = x87, .fn = fnstsw_ax},
    {.name = "fwait", .map = one, .opcode = 0x9b, .pfx = Pfx::any, .fn = fwait},
};

} // namespace

std::span<Row const> x87_rows() { return rows; }

} // namespace kxen::soft
