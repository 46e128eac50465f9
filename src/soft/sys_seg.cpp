// Segment register loads and stores (mov/push/pop sreg, lss/lfs/lgs/les/lds) and far jmp/call/ret
// to code segments (SDM vol. 2). Call gates and task switches are not supported.
#include "soft/sys.hpp"
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

using namespace sys;

Step ud64(Ctx& c, char const* what) {
    if (c.d.long64) return fault(vec::ud, std::string("#UD: ") + what + " in 64-bit mode");
    return {};
}

// mov ss and pop ss (not lss, which loads RSP itself) hold off interrupts for one instruction,
// so that the RSP load after them runs before any handler uses the new stack.
Step load(Ctx& c, int seg, std::uint16_t sel, bool shadow = true) {
    if (auto r = load_data_segment(c.s, c.env, seg, sel); !r) return r;
    if (seg == ss && shadow) c.s.interrupt_shadow = true;
    return {};
}

Step mov_to_sreg(Ctx& c) {
    int const seg = static_cast<int>(c.d.reg_field());
    if (seg == cs || seg > gs) return fault(vec::ud, "#UD: mov to CS or a non-existent segment register");
    auto v = c.rm_get(2);
    if (!v) return std::unexpected(v.error());
    return load(c, seg, static_cast<std::uint16_t>(*v));
}

Step mov_from_sreg(Ctx& c) {
    int const seg = static_cast<int>(c.d.reg_field());
    if (seg > gs) return fault(vec::ud, "#UD: mov from a non-existent segment register");
    std::uint16_t const sel = c.s.seg[seg].sel;
    if (c.d.is_mem()) return c.store(c.mem_addr(), sel);
    c.set(c.d.rm(), c.d.op_size, sel);   // 32/64-bit destinations are zero-extended
    return {};
}

template <int Seg> Step push_sreg(Ctx& c) {
    if (Seg < fs)
        if (auto r = ud64(c, "push es/cs/ss/ds"); !r) return r;
    unsigned const size = stack_op_size(c.d);
    // Recent processors write only the selector's 16 bits of a wider slot.
    std::uint64_t const sp = c.s.gpr[rsp] - size;
    std::uint16_t const sel = c.s.seg[Seg].sel;
    if (auto r = mem_write(c.s, c.env, stack_addr(c.s, sp), &sel, 2); !r) return r;
    set_sp(c.s, sp);
    return {};
}

template <int Seg> Step pop_sreg(Ctx& c) {
    if (Seg < fs)
        if (auto r = ud64(c, "pop es/ss/ds"); !r) return r;
    auto v = pop(c.s, c.env, stack_op_size(c.d));
    if (!v) return std::unexpected(v.error());
    return load(c, Seg, static_cast<std::uint16_t>(*v));
}

template <int Seg> Step load_far_pointer(Ctx& c) {
    if (Seg == es || Seg == ds)
        if (auto r = ud64(c, "les/lds"); !r) return r;
    unsigned const size = c.d.op_size;
    std::uint64_t const a = c.mem_addr();
    std::uint64_t off = 0;
    std::uint16_t sel = 0;
    if (auto r = c.read(a, &off, size); !r) return r;
    if (auto r = c.read(a + size, &sel, 2); !r) return r;
    if (auto r = load(c, Seg, sel, false); !r) return r;
    c.set(c.d.reg(), size, off);
    return {};
}

// The selector of a ptr16:16/ptr16:32 operand: the instruction's last two bytes, which the
// decoder does not keep.
Got<std::uint16_t> imm_selector(Ctx& c) {
    std::uint64_t const a = (c.s.seg[cs].base + c.s.rip + c.d.length - 2) & 0xffffffff;
    std::uint16_t sel = 0;
    if (auto r = c.read(a, &sel, 2); !r) return std::unexpected(r.error());
    return sel;
}

struct FarPtr {
    std::uint64_t off;
    std::uint16_t sel;
};

Got<FarPtr> far_operand(Ctx& c) {
    if (!c.d.is_mem()) {
        if (c.d.long64) return fault(vec::ud, "#UD: direct far transfer in 64-bit mode");
        auto sel = imm_selector(c);
        if (!sel) return std::unexpected(sel.error());
        return FarPtr{c.d.imm, *sel};
    }
    unsigned const size = c.d.op_size;
    std::uint64_t const a = c.mem_addr();
    FarPtr p{0, 0};
    if (auto r = c.read(a, &p.off, size); !r) return std::unexpected(r.error());
    if (auto r = c.read(a + size, &p.sel, 2); !r) return std::unexpected(r.error());
    return p;
}

Step enter_code(Ctx& c, Desc const& d, std::uint16_t sel, unsigned cpl, std::uint64_t off) {
    bool const to64 = c.s.long_mode && d.l();
    if (to64 && !canonical(c.s, off)) return fault(vec::gp, 0, "#GP: non-canonical target");
    set_cs(c.s, to_segment(d.raw, static_cast<std::uint16_t>((sel & ~3u) | cpl)), cpl);
    if (!to64) off &= c.s.cs_db ? 0xffffffff : 0xffff;
    c.jump(off);
    return {};
}

template <bool Call> Step far_transfer(Ctx& c) {
    auto p = far_operand(c);
    if (!p) return std::unexpected(p.error());
    auto d = check_code_for_jump(c.s, c.env, p->sel);
    if (!d) return std::unexpected(d.error());
    if (auto r = set_accessed(c.s, c.env, *d); !r) return r;
    if (Call) {
        unsigned const size = c.d.op_size;
        std::uint64_t next = c.s.rip + c.d.length;
        if (!c.d.long64) next &= c.s.cs_db ? 0xffffffff : 0xffff;
        if (auto r = push(c.s, c.env, c.s.seg[cs].sel, size); !r) return r;
        if (auto r = push(c.s, c.env, next, size); !r) return r;
    }
    return enter_code(c, *d, p->sel, c.s.cpl, p->off);
}

Step far_ret(Ctx& c) {
    unsigned const size = c.d.op_size;
    std::uint64_t const release = c.d.opcode == 0xca ? c.d.imm : 0;
    auto ip = pop(c.s, c.env, size);
    if (!ip) return std::unexpected(ip.error());
    auto csel = pop(c.s, c.env, size);
    if (!csel) return std::unexpected(csel.error());
    auto const sel = static_cast<std::uint16_t>(*csel);
    auto d = check_code_for_return(c.s, c.env, sel);
    if (!d) return std::unexpected(d.error());
    if (auto r = set_accessed(c.s, c.env, *d); !r) return r;
    unsigned const rpl = sel & 3;
    set_sp(c.s, c.s.gpr[rsp] + release);
    if (rpl == c.s.cpl) return enter_code(c, *d, sel, rpl, *ip);
    auto nsp = pop(c.s, c.env, size);
    if (!nsp) return std::unexpected(nsp.error());
    auto nss = pop(c.s, c.env, size);
    if (!nss) return std::unexpected(nss.error());
    if (auto r = load_stack_segment(c.s, c.env, static_cast<std::uint16_t>(*nss), rpl, c.s.long_mode && d->l()); !r) return r;
    if (auto r = enter_code(c, *d, sel, rpl, *ip); !r) return r;
    set_sp(c.s, *nsp + release);
    null_inaccessible(c.s);
    return {};
}

constexpr Row rows[] = {
    {.name = "mov", .ops = "E", .map = Map::one, .opcode = 0x8e, .pfx = Pfx::any, .fn = mov_to_sreg},
    {.name = "mov", .ops = "E", .map = Map::one, .opcode = 0x8c, .pfx = Pfx::any, .fn = mov_from_sreg},
    {.name = "push es", .map = Map::one, .opcode = 0x06, .pfx = Pfx::any, .fn = push_sreg<es>},
    {.name = "push cs", .map = Map::one, .opcode = 0x0e, .pfx = Pfx::any, .fn = push_sreg<cs>},
    {.name = "push ss", .map = Map::one, .opcode = 0x16, .pfx = Pfx::any, .fn = push_sreg<ss>},
    {.name = "push ds", .map = Map::one, .opcode = 0x1e, .pfx = Pfx::any, .fn = push_sreg<ds>},
    {.name = "push fs", .opcode = 0xa0, .pfx = Pfx::any, .fn = push_sreg<fs>},
    {.name = "push gs", .opcode = 0xa8, .pfx = Pfx::any, .fn = push_sreg<gs>},
    {.name = "pop es", .map = Map::one, .opcode = 0x07, .pfx = Pfx::any, .fn = pop_sreg<es>},
    {.name = "pop ss", .map = Map::one, .opcode = 0x17, .pfx = Pfx::any, .fn = pop_sreg<ss>},
    {.name = "pop ds", .map = Map::one, .opcode = 0x1f, .pfx = Pfx::any, .fn = pop_sreg<ds>},
    {.name = "pop fs", .opcode = 0xa1, .pfx = Pfx::any, .fn = pop_sreg<fs>},
    {.name = "pop gs", .opcode = 0xa9, .pfx = Pfx::any, .fn = pop_sreg<gs>},
    {.name = "lss", .ops = "GM", .opcode = 0xb2, .pfx = Pfx::any, .mod = Mod::mem, .fn = load_far_pointer<ss>},
    {.name = "lfs", .ops = "GM", .opcode = 0xb4, .pfx = Pfx::any, .mod = Mod::mem, .fn = load_far_pointer<fs>},
    {.name = "lgs", .ops = "GM", .opcode = 0xb5, .pfx = Pfx::any, .mod = Mod::mem, .fn = load_far_pointer<gs>},
    {.name = "les", .ops = "GM", .map = Map::one, .opcode = 0xc4, .pfx = Pfx::any, .mod = Mod::mem, .fn = load_far_pointer<es>},
    {.name = "lds", .ops = "GM", .map = Map::one, .opcode = 0xc5, .pfx = Pfx::any, .mod = Mod::mem, .fn = load_far_pointer<ds>},
    {.name = "ljmp", .map = Map::one, .opcode = 0xea, .pfx = Pfx::any, .fn = far_transfer<false>},
    {.name = "lcall", .map = Map::one, .opcode = 0x9a, .pfx = Pfx::any, .fn = far_transfer<true>},
    {.name = "ljmp", .ops = "M", .map = Map::one, .opcode = 0xff, .pfx = Pfx::any, .mod = Mod::mem, .reg = 5, .fn = far_transfer<false>},
    {.name = "lcall", .ops = "M", .map = Map::one, .opcode = 0xff, .pfx = Pfx::any, .mod = Mod::mem, .reg = 3, .fn = far_transfer<true>},
    {.name = "lret", .map = Map::one, .opcode = 0xcb, .pfx = Pfx::any, .fn = far_ret},
    {.name = "lret", .map = Map::one, .opcode = 0xca, .pfx = Pfx::any, .fn = far_ret},
};

} // namespace

std::span<Row const> sys_seg_rows() { return rows; }

} // namespace kxen::soft
