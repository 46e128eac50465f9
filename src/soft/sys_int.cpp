// Software interrupts (int n, int3, into, int1) through the same delivery as exceptions, and
// iret back from any of them (SDM vol. 2 INT n, IRET). Task returns (NT set outside long mode)
// and virtual-8086 mode are not supported.
#include "soft/sys.hpp"
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

using namespace sys;

Step soft_int(Ctx& c, std::uint8_t vector, EventKind kind) {
    if (c.s.rflags & rf_vm) return crash("int n in virtual-8086 mode is not supported");
    std::uint64_t next = c.s.rip + c.d.length;
    if (!c.d.long64) next &= c.s.cs_db ? 0xffffffff : 0xffff;
    if (auto r = deliver(c.s, c.env, Event{vector, kind, false, 0, next}); !r) return r;
    c.jump(c.s.rip);
    return {};
}

Step int_n(Ctx& c) { return soft_int(c, static_cast<std::uint8_t>(c.d.imm), EventKind::software); }
Step int3(Ctx& c) { return soft_int(c, vec::bp, EventKind::software); }
// int1 (icebp) is delivered like a hardware #DB: no gate DPL check, EXT set in error codes.
Step int1(Ctx& c) { return soft_int(c, vec::db, EventKind::icebp); }

Step into(Ctx& c) {
    if (c.d.long64) return fault(vec::ud, "#UD: into in 64-bit mode");
    if (!(c.s.rflags & fl::of)) return {};
    return soft_int(c, vec::of, EventKind::software);
}

// RFLAGS as iret restores them under the CPL it ran at.
std::uint64_t iret_flags(CpuState const& s, std::uint64_t popped, unsigned size) {
    std::uint64_t mask = fl::arith | rf_tf | rf_df | rf_nt | rf_rf | rf_ac | rf_id;
    if (s.cpl <= iopl(s)) mask |= rf_if;
    if (s.cpl == 0) mask |= rf_iopl | rf_vif | rf_vip;
    if (size == 2) mask &= 0xffff;
    return ((s.rflags & ~mask) | (popped & mask) | 2) & ~rf_vm;
}

Step iret(Ctx& c) {
    CpuState& s = c.s;
    if (s.rflags & rf_vm) return crash("iret in virtual-8086 mode is not supported");
    if (s.rflags & rf_nt) {
        if (s.long_mode) return fault(vec::gp, 0, "#GP: iret with NT set in long mode");
        return unsupported("iret task return (NT set)");
    }
    unsigned const size = c.d.op_size;
    auto ip = pop(s, c.env, size);
    if (!ip) return std::unexpected(ip.error());
    auto csel = pop(s, c.env, size);
    if (!csel) return std::unexpected(csel.error());
    auto flags = pop(s, c.env, size);
    if (!flags) return std::unexpected(flags.error());
    if (!s.long_mode && size == 4 && (*flags & rf_vm) && s.cpl == 0)
        return crash("iret to virtual-8086 mode is not supported");
    auto const sel = static_cast<std::uint16_t>(*csel);
    auto d = check_code_for_return(s, c.env, sel);
    if (!d) return std::unexpected(d.error());
    unsigned const rpl = sel & 3, old_cpl = s.cpl;
    bool const to64 = s.long_mode && d->l();
    std::uint64_t const new_flags = iret_flags(s, *flags, size);
    std::uint64_t rip = *ip;
    if (to64 && !canonical(s, rip)) return fault(vec::gp, 0, "#GP: iret to a non-canonical RIP");
    // 64-bit mode's iret always pops SS:RSP; elsewhere only a return to an outer ring does.
    if (long64(s) || rpl > old_cpl) {
        auto nsp = pop(s, c.env, size);
        if (!nsp) return std::unexpected(nsp.error());
        auto nss = pop(s, c.env, size);
        if (!nss) return std::unexpected(nss.error());
        if (auto r = load_stack_segment(s, c.env, static_cast<std::uint16_t>(*nss), rpl, to64); !r) return r;
        if (auto r = set_accessed(s, c.env, *d); !r) return r;
        set_cs(s, to_segment(d->raw, sel), rpl);
        if (to64 || size == 8)
            s.gpr[rsp] = *nsp;
        else
            set_sp(s, *nsp);
    } else {
        if (auto r = set_accessed(s, c.env, *d); !r) return r;
        set_cs(s, to_segment(d->raw, sel), rpl);
    }
    if (!to64) rip &= s.cs_db ? 0xffffffff : 0xffff;
    s.rflags = new_flags;
    if (rpl > old_cpl) null_inaccessible(s);
    c.jump(rip);
    return {};
}

constexpr Row rows[] = {
    {.name = "int", .ops = "I", .map = Map::one, .opcode = 0xcd, .pfx = Pfx::any, .fn = int_n},
    {.name = "int3", .map = Map::one, .opcode = 0xcc, .pfx = Pfx::any, .fn = int3},
    {.name = "into", .map = Map::one, .opcode = 0xce, .pfx = Pfx::any, .fn = into},
    {.name = "int1", .map = Map::one, .opcode = 0xf1, .pfx = Pfx::any, .fn = int1},
    {.name = "iret", .map = Map::one, .opcode = 0xcf, .pfx = Pfx::any, .fn = iret},
};

} // namespace

std::span<Row const> sys_int_rows() { return rows; }

} // namespace kxen::soft
