// Row lookup. find_row runs once per decoded instruction, so the rows are indexed by (map,
// opcode) once; each bucket holds the few rows of that opcode in family order.
#include "soft/table.hpp"
#include <array>
#include <vector>

namespace kxen::soft {
namespace {

// Earlier families win: the integer rows accept any prefix, so the SSE/bitops rows selected by a
// mandatory prefix (f3 0f bc tzcnt before 0f bc bsf) and the system rows must come first.
constexpr std::array families = {sse_rows,        sse_int_rows,    sse_fp_rows,    x87_rows,
                                 x87_arith_rows,  xsave_rows,      bitops_rows,    bmi_rows,
                                 cmpxchg_rows,    system_rows,     sys_seg_rows,   sys_int_rows,
                                 sys_ctl_rows,    sys_msr_rows,    int_alu_rows,   int_muldiv_rows,
                                 int_bits_rows,   int_data_rows,   int_flow_rows,  int_shift_rows,
                                 int_string_rows};

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

// Everything but map and opcode, which the index has already matched.
bool matches(Row const& r, Decoded const& d) {
    if (r.vex != d.vex || d.evex) return false;
    if (r.mode == Mode::only64 && !d.long64) return false;
    if (!prefix_matches(r.pfx, d.mandatory)) return false;
    if (r.mod != Mod::any && (!d.has_modrm || (r.mod == Mod::mem) != d.is_mem())) return false;
    if (r.reg >= 0 && (!d.has_modrm || d.reg_field() != unsigned(r.reg))) return false;
    if (r.rm >= 0 && (!d.has_modrm || d.rm_field() != unsigned(r.rm))) return false;
    bool const w = d.vex ? d.vex_w : d.rex_w();
    return r.w == W::any || (r.w == W::w1) == w;
}

constexpr unsigned keys = 4 * 256;
unsigned key(Map m, unsigned opcode) { return static_cast<unsigned>(m) * 256 + opcode; }

struct Index {
    std::array<std::uint32_t, keys + 1> start{};
    std::vector<Row const*> rows;

    Index() {
        std::array<std::uint32_t, keys> n{};
        auto each = [](auto f) {
            for (auto family : families)
                for (Row const& r : family())
                    for (unsigned op = r.opcode; op < r.opcode + r.count && op < 256; ++op) f(key(r.map, op), r);
        };
        each([&](unsigned k, Row const&) { ++n[k]; });
        for (unsigned k = 0; k < keys; ++k) start[k + 1] = start[k] + n[k];
        rows.resize(start[keys]);
        std::array<std::uint32_t, keys> fill{};
        each([&](unsigned k, Row const& r) { rows[start[k] + fill[k]++] = &r; });
    }
};

} // namespace

Row const* find_row(Decoded const& d) {
    static Index const index;
    unsigned const k = key(d.map, d.opcode);
    for (std::uint32_t i = index.start[k]; i < index.start[k + 1]; ++i)
        if (matches(*index.rows[i], d)) return index.rows[i];
    return nullptr;
}

} // namespace kxen::soft
