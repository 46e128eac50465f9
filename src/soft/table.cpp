// Row lookup. Linear over a couple of hundred rows: noise next to the KVM exit that led here.
#include "soft/table.hpp"
#include <array>

namespace kxen::soft {
namespace {

constexpr std::array families = {sse_rows,    x87_rows,     x87_arith_rows, xsave_rows,
                                 bitops_rows, bmi_rows,     cmpxchg_rows,   system_rows,
                                 sys_seg_rows, sys_int_rows, sys_ctl_rows,  sys_msr_rows};

bool prefix_matches(Pfx p, std::uint8_t mandatory) {
    switch (p) {
    case Pfx::none: return mandatory == 0;
    case Pfx::p66: return mandatory == 0x66;
    case Pfx::pf3: return mandatory == 0xf3;
    case Pfx::pf2: return mandatory == 0xf2;
    case Pfx::any: return true;
    }
    return false;
}

bool matches(Row const& r, Decoded const& d) {
    if (r.map != d.map || r.opcode != d.opcode || r.vex != d.vex || d.evex) return false;
    if (!prefix_matches(r.pfx, d.mandatory)) return false;
    if (r.mod != Mod::any && (!d.has_modrm || (r.mod == Mod::mem) != d.is_mem())) return false;
    if (r.reg >= 0 && (!d.has_modrm || d.reg_field() != unsigned(r.reg))) return false;
    if (r.rm >= 0 && (!d.has_modrm || d.rm_field() != unsigned(r.rm))) return false;
    bool const w = d.vex ? d.vex_w : d.rex_w();
    return r.w == W::any || (r.w == W::w1) == w;
}

} // namespace

Row const* find_row(Decoded const& d) {
    for (auto rows : families)
        for (Row const& r : rows())
            if (matches(r, d)) return &r;
    return nullptr;
}

} // namespace kxen::soft
