// x87 add/mul/sub/div (and the reversed and popping forms) and the comparisons: the D8/DC/DA/DE
// groups, whose ModRM.reg selects add mul com comp sub subr div divr; fcompp, fucom*, fcomi*,
// ftst. A memory operand is first converted to 80 bits (exact, and raising the same IE/DE the
// combined instruction would), then the host FPU does the operation under the guest's FCW.
#include <array>
#include "soft/table.hpp"
#include "soft/x87_stack.hpp"

namespace kxen::soft {
namespace {

using host_x87::Fmt;
using host_x87::Op;

// ModRM.reg of the group: 0 add, 1 mul, 2 com, 3 comp, 4 sub, 5 subr, 6 div, 7 divr.
std::uint16_t compute(unsigned op, F80 const& a, F80 const& b, F80& out, std::uint16_t fcw) {
    switch (op) {
    case 0: return host_x87::arith(Op::add, a, b, out, fcw);
    case 1: return host_x87::arith(Op::mul, a, b, out, fcw);
    case 4: return host_x87::arith(Op::sub, a, b, out, fcw);
    case 5: return host_x87::arith(Op::sub, b, a, out, fcw);
    case 6: return host_x87::arith(Op::div, a, b, out, fcw);
    default: return host_x87::arith(Op::div, b, a, out, fcw);
    }
}

// C3 C2 C0 of a comparison (C1 cleared); unordered (all set) when an operand was empty.
Step set_compare(X87& x, std::uint16_t sw) {
    if (auto r = x.raise(sw); !r) return r;
    x.set_cc(fsw::cc, sw & (fsw::c0 | fsw::c2 | fsw::c3));
    return {};
}

// The memory operand of a D8/DC/DA/DE memory form, as an 80-bit value.
Got<F80> memory_operand(Ctx& c, X87& x) {
    Fmt const f = c.d.opcode == 0xd8 ? Fmt::f32 : c.d.opcode == 0xdc ? Fmt::f64 : c.d.opcode == 0xda ? Fmt::i32 : Fmt::i16;
    unsigned const size = f == Fmt::i16 ? 2 : f == Fmt::f64 ? 8 : 4;
    std::uint8_t buf[8];
    if (auto r = c.read(c.mem_addr(), buf, size); !r) return std::unexpected(r.error());
    F80 v;
    if (auto r = x.raise(host_x87::load(f, buf, v, c.s.fcw)); !r) return std::unexpected(r.error());
    return v;
}

// D8 and the memory forms: ST(0) = ST(0) op src; com/comp compare ST(0) with src.
// DC/DE register forms: ST(i) = ST(i) op ST(0), where reg 4/5 and 6/7 name the reverse
// operation (DC E0+i is fsubr st(i),st(0)); DE then pops.
Step arith(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    unsigned op = c.d.reg_field();
    bool const mem = c.d.is_mem();
    unsigned const i = c.d.rm_field();
    auto st0 = x.read(0);
    if (!st0) return std::unexpected(st0.error());
    auto src = mem ? memory_operand(c, x) : x.read(i);
    if (!src) return std::unexpected(src.error());

    if (op == 2 || op == 3) {   // fcom/fcomp, ficom/ficomp (only D8 and memory forms reach here)
        if (auto r = set_compare(x, host_x87::compare(*st0, *src, false, c.s.fcw)); !r) return r;
        if (op == 3) x.pop();
        return {};
    }
    bool const to_sti = !mem && c.d.opcode != 0xd8;
    if (to_sti && op >= 4) op ^= 1;
    F80 out;
    std::uint16_t const sw = to_sti ? compute(op, *src, *st0, out, c.s.fcw) : compute(op, *st0, *src, out, c.s.fcw);
    if (auto r = x.raise(sw); !r) return r;
    x.set_cc(fsw::c1, sw);
    x.set_st(to_sti ? i : 0, out);
    if (c.d.opcode == 0xde && !mem) x.pop();
    return {};
}

// fucom/fucomp/fucompp/fcompp/ftst: C3 C2 C0 from ST(0) vs ST(i) (or vs +0.0 for ftst).
template <bool Quiet, unsigned Pops, bool VsZero = false> Step fcom_st(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    auto a = x.read(0);
    if (!a) return std::unexpected(a.error());
    auto b = VsZero ? Got<F80>{F80{}} : x.read(Pops == 2 ? 1 : c.d.rm_field());
    if (!b) return std::unexpected(b.error());
    if (auto r = set_compare(x, host_x87::compare(*a, *b, Quiet, c.s.fcw)); !r) return r;
    for (unsigned k = 0; k < Pops; ++k) x.pop();
    return {};
}

// fcomi/fucomi(p): the result goes to ZF PF CF (C3 C2 C0); OF SF AF are cleared.
template <bool Quiet, bool Pop> Step fcomi(Ctx& c) {
    note_x87(c);
    X87 x{c.s};
    auto a = x.read(0);
    if (!a) return std::unexpected(a.error());
    auto b = x.read(c.d.rm_field());
    if (!b) return std::unexpected(b.error());
    std::uint16_t const sw = host_x87::compare(*a, *b, Quiet, c.s.fcw);
    if (auto r = x.raise(sw); !r) return r;
    x.set_cc(fsw::c1, 0);
    c.s.rflags = (c.s.rflags & ~fl::arith) | (sw & fsw::c3 ? fl::zf : 0) | (sw & fsw::c2 ? fl::pf : 0) |
                 (sw & fsw::c0 ? fl::cf : 0);
    if (Pop) x.pop();
    return {};
}

struct Group {
    std::uint8_t opcode;
    Mod mod;
    std::array<char const*, 8> names;   // nullptr: not an arith row here
    char const* ops;
};

constexpr Group groups[] = {
    {0xd8, Mod::mem, {"fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"}, "M"},
    {0xdc, Mod::mem, {"fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"}, "M"},
    {0xda, Mod::mem, {"fiadd", "fimul", "ficom", "ficomp", "fisub", "fisubr", "fidiv", "fidivr"}, "M"},
    {0xde, Mod::mem, {"fiadd", "fimul", "ficom", "ficomp", "fisub", "fisubr", "fidiv", "fidivr"}, "M"},
    {0xd8, Mod::reg, {"fadd", "fmul", "fcom", "fcomp", "fsub", "fsubr", "fdiv", "fdivr"}, "0S"},
    {0xdc, Mod::reg, {"fadd", "fmul", nullptr, nullptr, "fsubr", "fsub", "fdivr", "fdiv"}, "S0"},
    {0xde, Mod::reg, {"faddp", "fmulp", nullptr, nullptr, "fsubrp", "fsubp", "fdivrp", "fdivp"}, "S0"},
};

constexpr std::size_t group_rows = [] {
    std::size_t n = 0;
    for (auto const& g : groups)
        for (auto name : g.names) n += name != nullptr;
    return n;
}();

constexpr Row single[] = {
    {.name = "fcompp", .map = Map::one, .opcode = 0xde, .pfx = Pfx::any, .mod = Mod::reg, .reg = 3, .rm = 1, .cls = Class::x87, .fn = fcom_st<false, 2>},
    {.name = "fucompp", .map = Map::one, .opcode = 0xda, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .rm = 1, .cls = Class::x87, .fn = fcom_st<true, 2>},
    {.name = "fucom", .ops = "S", .map = Map::one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::reg, .reg = 4, .cls = Class::x87, .fn = fcom_st<true, 0>},
    {.name = "fucomp", .ops = "S", .map = Map::one, .opcode = 0xdd, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .cls = Class::x87, .fn = fcom_st<true, 1>},
    {.name = "ftst", .map = Map::one, .opcode = 0xd9, .pfx = Pfx::any, .mod = Mod::reg, .reg = 4, .rm = 4, .cls = Class::x87, .fn = fcom_st<false, 0, true>},
    {.name = "fucomi", .ops = "0S", .map = Map::one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .cls = Class::x87, .fn = fcomi<true, false>},
    {.name = "fcomi", .ops = "0S", .map = Map::one, .opcode = 0xdb, .pfx = Pfx::any, .mod = Mod::reg, .reg = 6, .cls = Class::x87, .fn = fcomi<false, false>},
    {.name = "fucomip", .ops = "0S", .map = Map::one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::reg, .reg = 5, .cls = Class::x87, .fn = fcomi<true, true>},
    {.name = "fcomip", .ops = "0S", .map = Map::one, .opcode = 0xdf, .pfx = Pfx::any, .mod = Mod::reg, .reg = 6, .cls = Class::x87, .fn = fcomi<false, true>},
};

constexpr auto rows = [] {
    std::array<Row, group_rows + std::size(single)> t{};
    std::size_t n = 0;
    for (auto const& g : groups)
        for (unsigned reg = 0; reg < 8; ++reg)
            if (g.names[reg])
                t[n++] = {.name = g.names[reg], .ops = g.ops, .map = Map::one, .opcode = g.opcode, .pfx = Pfx::any,
                          .mod = g.mod, .reg = static_cast<std::int8_t>(reg), .cls = Class::x87, .fn = arith};
    for (Row const& r : single) t[n++] = r;
    return t;
}();

} // namespace

std::span<Row const> x87_arith_rows() { return rows; }

} // namespace kxen::soft
