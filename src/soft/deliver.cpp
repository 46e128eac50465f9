// Event delivery: the IDT gate, the target code segment, the stack switch (TSS.RSPn / IST in
// long mode, TSS.SSn:ESPn in protected mode) and the frame, then double-fault escalation.
#include "soft/deliver.hpp"
#include <cstdio>
#include "soft/sys.hpp"

namespace kxen::soft {
namespace sys {
namespace {

std::string text(char const* what, unsigned v) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s (vector %u)", what, v);
    return buf;
}

// SDM 6.12.1 / 6.14: the inner stack a privilege change (or an IST) switches to.
Got<std::uint64_t> tss_rsp(CpuState const& s, Env& env, unsigned off, std::uint32_t ext) {
    if (off + 7 > s.tr.limit) return fault(vec::ts, (s.tr.sel & 0xfffc) | ext, "#TS: TSS too small for the stack pointer");
    std::uint64_t v = 0;
    if (auto r = mem_read(s, env, s.tr.base + off, &v, 8, true); !r) return std::unexpected(r.error());
    if (!canonical(s, v)) return fault(vec::ss, ext, "#SS: non-canonical stack pointer in the TSS");
    return v;
}

Step deliver_long(CpuState& s, Env& env, Event const& e, std::uint64_t const g[2], Desc const& cd,
                  std::uint16_t sel, std::uint32_t ext) {
    unsigned const ncpl = cd.conforming() ? s.cpl : cd.dpl();
    unsigned const ist = (g[0] >> 32) & 7;
    std::uint64_t const offset = (g[0] & 0xffff) | (((g[0] >> 48) & 0xffff) << 16) | ((g[1] & 0xffffffff) << 32);
    if (!canonical(s, offset)) return fault(vec::gp, ext, text("#GP: non-canonical handler address", e.vector));
    std::uint64_t sp = s.gpr[rsp];
    if (ist || ncpl < s.cpl) {
        auto n = tss_rsp(s, env, ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * ncpl, ext);
        if (!n) return std::unexpected(n.error());
        sp = *n;
    }
    sp &= ~0xfull;
    std::uint64_t frame[6];
    unsigned n = 0;
    if (e.has_error_code) frame[n++] = e.error_code;
    frame[n++] = e.return_rip;
    frame[n++] = s.seg[cs].sel;
    frame[n++] = s.rflags;
    frame[n++] = s.gpr[rsp];
    frame[n++] = s.seg[ss].sel;
    sp -= 8 * n;
    unsigned const old_cpl = s.cpl;
    set_cs(s, to_segment(cd.raw, static_cast<std::uint16_t>((sel & ~3u) | ncpl)), ncpl);
    if (auto r = mem_write(s, env, sp, frame, 8 * n); !r) return r;
    if (ncpl < old_cpl) s.seg[ss] = Segment{0, 0, static_cast<std::uint16_t>(ncpl), static_cast<std::uint16_t>(ncpl << 5)};
    s.gpr[rsp] = sp;
    s.rip = offset;
    return {};
}

Step deliver_protected(CpuState& s, Env& env, Event const& e, std::uint64_t g, Desc const& cd,
                       std::uint16_t sel, std::uint32_t ext, bool gate32) {
    unsigned const ncpl = cd.conforming() ? s.cpl : cd.dpl();
    unsigned const size = gate32 ? 4 : 2;
    std::uint64_t offset = (g & 0xffff) | (((g >> 48) & 0xffff) << 16);
    if (!gate32) offset &= 0xffff;
    Segment const old_ss = s.seg[ss];
    std::uint64_t const old_sp = s.gpr[rsp], old_flags = s.rflags;
    std::uint16_t const old_cs = s.seg[cs].sel;
    if (ncpl < s.cpl) {
        // A 32-bit TSS holds ESPn at 4+8n and SSn at 8+8n; a 16-bit one SPn at 2+4n, SSn at 4+4n.
        bool const tss32 = seg_attr::type(s.tr.attr) & 8;
        unsigned const sp_off = tss32 ? 4 + 8 * ncpl : 2 + 4 * ncpl, ss_off = tss32 ? 8 + 8 * ncpl : 4 + 4 * ncpl;
        std::uint32_t const ts_ec = (s.tr.sel & 0xfffc) | ext;
        if (ss_off + 1 > s.tr.limit) return fault(vec::ts, ts_ec, "#TS: TSS too small for the stack");
        std::uint32_t nsp = 0;
        std::uint16_t nss = 0;
        if (auto r = mem_read(s, env, (s.tr.base + sp_off) & 0xffffffff, &nsp, tss32 ? 4 : 2, true); !r) return r;
        if (auto r = mem_read(s, env, (s.tr.base + ss_off) & 0xffffffff, &nss, 2, true); !r) return r;
        if ((nss & ~3u) == 0) return fault(vec::ts, ext, "#TS: null SS in the TSS");
        if ((nss & 3u) != ncpl) return fault(vec::ts, (nss & 0xfffc) | ext, "#TS: TSS SS RPL != new CPL");
        auto sd = read_desc(s, env, nss, ext);
        if (!sd) {
            if (sd.error().fault.vector == vec::gp) return fault(vec::ts, (nss & 0xfffc) | ext, "#TS: TSS SS beyond the table");
            return std::unexpected(sd.error());
        }
        if (!sd->writable_data() || sd->dpl() != ncpl) return fault(vec::ts, (nss & 0xfffc) | ext, "#TS: TSS SS not a writable data segment");
        if (!sd->present()) return fault(vec::ss, (nss & 0xfffc) | ext, "#SS: TSS SS not present");
        if (auto r = set_accessed(s, env, *sd); !r) return r;
        set_cs(s, to_segment(cd.raw, static_cast<std::uint16_t>((sel & ~3u) | ncpl)), ncpl);
        s.seg[ss] = to_segment(sd->raw, nss);
        s.gpr[rsp] = nsp;
        if (auto r = push(s, env, old_ss.sel, size); !r) return r;
        if (auto r = push(s, env, old_sp, size); !r) return r;
    } else {
        set_cs(s, to_segment(cd.raw, static_cast<std::uint16_t>((sel & ~3u) | ncpl)), ncpl);
    }
    if (auto r = push(s, env, old_flags, size); !r) return r;
    if (auto r = push(s, env, old_cs, size); !r) return r;
    if (auto r = push(s, env, e.return_rip, size); !r) return r;
    if (e.has_error_code)
        if (auto r = push(s, env, e.error_code, size); !r) return r;
    s.rip = offset;
    return {};
}

} // namespace

Step deliver(CpuState& s, Env& env, Event const& e) {
    if (!(s.cr0 & cr0_pe)) return crash("interrupt delivery in real-address mode is not supported");
    if (s.rflags & rf_vm) return crash("interrupt delivery in virtual-8086 mode is not supported");
    // EXT: the event did not come from an int n/int3/into instruction.
    std::uint32_t const ext = e.kind == EventKind::software ? 0 : 1;
    std::uint32_t const idt_ec = e.vector * 8u + 2 + ext;
    bool const lm = s.long_mode;
    unsigned const gsz = lm ? 16 : 8;
    if (e.vector * gsz + gsz - 1 > s.idtr.limit) return fault(vec::gp, idt_ec, text("#GP: vector beyond the IDT limit", e.vector));
    std::uint64_t g[2] = {0, 0};
    std::uint64_t const ga = s.idtr.base + e.vector * gsz;
    if (auto r = mem_read(s, env, lm ? ga : ga & 0xffffffff, g, gsz, true); !r) return r;
    unsigned const type = (g[0] >> 40) & 0xf, dpl = (g[0] >> 45) & 3;
    bool const p = (g[0] >> 47) & 1, s_bit = (g[0] >> 44) & 1;
    bool gate32 = true;
    if (s_bit) return fault(vec::gp, idt_ec, text("#GP: IDT entry is not a gate", e.vector));
    if (lm) {
        if (type != 0xe && type != 0xf) return fault(vec::gp, idt_ec, text("#GP: bad IDT gate type", e.vector));
    } else if (type == 0x5) {
        if (e.kind == EventKind::software && dpl < s.cpl) return fault(vec::gp, idt_ec, text("#GP: gate DPL below CPL", e.vector));
        return std::unexpected(Result{Outcome::unsupported, text("task gate in the IDT", e.vector), {}});
    } else if (type == 0x6 || type == 0x7) {
        gate32 = false;
    } else if (type != 0xe && type != 0xf) {
        return fault(vec::gp, idt_ec, text("#GP: bad IDT gate type", e.vector));
    }
    if (e.kind == EventKind::software && dpl < s.cpl) return fault(vec::gp, idt_ec, text("#GP: gate DPL below CPL", e.vector));
    if (!p) return fault(vec::np, idt_ec, text("#NP: IDT gate not present", e.vector));
    bool const trap = type & 1;

    auto const sel = static_cast<std::uint16_t>(g[0] >> 16);
    if ((sel & ~3u) == 0) return fault(vec::gp, ext, text("#GP: null code selector in the IDT gate", e.vector));
    auto cd = read_desc(s, env, sel, ext);
    if (!cd) return std::unexpected(cd.error());
    std::uint32_t const sel_ec = (sel & 0xfffc) | ext;
    if (!cd->code() || cd->dpl() > s.cpl) return fault(vec::gp, sel_ec, text("#GP: bad handler code segment", e.vector));
    if (lm && (!cd->l() || cd->db())) return fault(vec::gp, sel_ec, text("#GP: handler code segment is not 64-bit", e.vector));
    if (!cd->present()) return fault(vec::np, sel_ec, text("#NP: handler code segment not present", e.vector));

    Step r = lm ? deliver_long(s, env, e, g, *cd, sel, ext) : deliver_protected(s, env, e, g[0], *cd, sel, ext, gate32);
    if (!r) return r;
    s.rflags &= ~(rf_tf | rf_nt | rf_rf | rf_vm);
    if (!trap) s.rflags &= ~rf_if;
    return {};
}

} // namespace sys

namespace {

enum class Kind { benign, contributory, page_fault, double_fault };

Kind classify(std::uint8_t v) {
    switch (v) {
    case vec::de: case vec::ts: case vec::np: case vec::ss: case vec::gp: return Kind::contributory;
    case vec::pf: return Kind::page_fault;
    case vec::df: return Kind::double_fault;
    default: return Kind::benign;
    }
}

// Delivers e; a fault on the way is delivered in its place or escalates (SDM table 6-5).
Delivered deliver_escalating(CpuState& s, Env& env, sys::Event e) {
    // A benign fault can follow a benign one (a #PF on the stack while delivering #UD, which
    // then faults again ...); the chain always ends at #DF within a few steps.
    for (int i = 0; i < 8; ++i) {
        CpuState next = s;
        auto r = sys::deliver(next, env, e);
        if (r) {
            s = next;
            return Delivered::ok;
        }
        if (r.error().outcome != Outcome::fault) return Delivered::triple_fault;
        Fault const second = r.error().fault;
        if (e.vector == vec::df && e.kind == sys::EventKind::exception) return Delivered::triple_fault;
        Kind const a = e.kind == sys::EventKind::exception ? classify(e.vector) : Kind::benign;
        Kind const b = classify(second.vector);
        if ((a == Kind::contributory && b == Kind::contributory) ||
            (a == Kind::page_fault && (b == Kind::contributory || b == Kind::page_fault))) {
            e = sys::Event{vec::df, sys::EventKind::exception, true, 0, s.rip};
        } else {
            if (second.vector == vec::pf) s.cr2 = second.address;
            e = sys::Event{second.vector, sys::EventKind::exception, second.has_error_code, second.error_code, s.rip};
        }
    }
    return Delivered::triple_fault;
}

} // namespace

Delivered raise(CpuState& s, Env& env, Fault const& f) {
    if (!(s.cr0 & sys::cr0_pe) || (s.rflags & sys::rf_vm)) return Delivered::triple_fault;
    if (f.vector == vec::pf) s.cr2 = f.address;
    return deliver_escalating(s, env, sys::Event{f.vector, sys::EventKind::exception, f.has_error_code, f.error_code, s.rip});
}

Delivered interrupt(CpuState& s, Env& env, std::uint8_t vector) {
    if (!(s.cr0 & sys::cr0_pe) || (s.rflags & sys::rf_vm)) return Delivered::triple_fault;
    return deliver_escalating(s, env, sys::Event{vector, sys::EventKind::external, false, 0, s.rip});
}

void complete_in(CpuState& s, unsigned size, std::uint64_t value) {
    auto& a = s.gpr[rax];
    if (size == 1)
        a = (a & ~0xffull) | (value & 0xff);
    else if (size == 2)
        a = (a & ~0xffffull) | (value & 0xffff);
    else
        a = value & 0xffffffff;
}

} // namespace kxen::soft
