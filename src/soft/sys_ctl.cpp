// Control registers, debug registers, descriptor-table registers, LDTR/TR, TLB and cache
// control, hlt, cli/sti, cpuid, xsetbv, port I/O and hypercalls (SDM vol. 2 and vol. 3 ch. 2).
#include "soft/sys.hpp"
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

using namespace sys;

constexpr std::uint64_t cr0_mp = 1u << 1, cr0_em = 1u << 2, cr0_ts = 1u << 3, cr0_et = 1u << 4, cr0_ne = 1u << 5,
                        cr0_wp = 1u << 16, cr0_am = 1u << 18, cr0_nw = 1u << 29, cr0_cd = 1u << 30;
constexpr std::uint64_t cr0_valid = cr0_pe | cr0_mp | cr0_em | cr0_ts | cr0_et | cr0_ne | cr0_wp | cr0_am | cr0_nw | cr0_cd | cr0_pg;
constexpr std::uint64_t cr4_de = 1u << 3, cr4_pse = 1u << 4, cr4_pae = 1u << 5, cr4_pge = 1u << 7, cr4_umip = 1u << 11,
                        cr4_pcide = 1u << 17, cr4_smep = 1u << 20, cr4_smap = 1u << 21, cr4_pke = 1u << 22;
// VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT UMIP FSGSBASE PCIDE OSXSAVE SMEP SMAP PKE;
// not LA57 (4-level paging only), VMXE or SMXE.
constexpr std::uint64_t cr4_valid = 0xfff | (1u << 16) | cr4_pcide | (1u << 18) | cr4_smep | cr4_smap | cr4_pke;
constexpr std::uint64_t cr4_paging = cr4_pse | cr4_pae | cr4_pge | cr4_pcide | cr4_smep | cr4_smap | cr4_pke;

Step ring0(Ctx const& c, char const* what) {
    if (c.s.cpl != 0) return fault(vec::gp, 0, std::string("#GP: ") + what + " at CPL>0");
    return {};
}

Step umip(Ctx const& c, char const* what) {
    if (c.s.cpl != 0 && (c.s.cr4 & cr4_umip)) return fault(vec::gp, 0, std::string("#GP: ") + what + " with CR4.UMIP at CPL>0");
    return {};
}

Step write_cr0(Ctx& c, std::uint64_t v) {
    CpuState& s = c.s;
    if (v >> 32) return fault(vec::gp, 0, "#GP: CR0 bits 63:32 set");
    v = (v & cr0_valid) | cr0_et;   // reserved bits 31:0 are ignored, ET is fixed
    if ((v & cr0_pg) && !(v & cr0_pe)) return fault(vec::gp, 0, "#GP: CR0.PG without PE");
    if ((v & cr0_nw) && !(v & cr0_cd)) return fault(vec::gp, 0, "#GP: CR0.NW without CD");
    if (!(v & cr0_pe)) return crash("CR0.PE cleared: real mode is not supported");
    bool const pg_on = (v & cr0_pg) && !(s.cr0 & cr0_pg), pg_off = !(v & cr0_pg) && (s.cr0 & cr0_pg);
    if (pg_on && (s.efer & efer_lme)) {
        if (!(s.cr4 & cr4_pae)) return fault(vec::gp, 0, "#GP: long mode without CR4.PAE");
        if (s.cs_l) return fault(vec::gp, 0, "#GP: activating long mode with CS.L set");
        s.efer |= efer_lma;
    }
    if (pg_off && s.long_mode) {
        if (long64(s)) return fault(vec::gp, 0, "#GP: clearing CR0.PG in 64-bit mode");
        if (s.cr4 & cr4_pcide) return fault(vec::gp, 0, "#GP: clearing CR0.PG with CR4.PCIDE");
        s.efer &= ~efer_lma;
    }
    std::uint64_t const changed = s.cr0 ^ v;
    s.cr0 = v;
    sync_derived(s);
    if (changed & (cr0_pg | cr0_wp | cr0_cd)) c.env.tlb_flush(true);
    return {};
}

Step write_cr4(Ctx& c, std::uint64_t v) {
    CpuState& s = c.s;
    if (v & ~cr4_valid) return fault(vec::gp, 0, "#GP: reserved or unsupported CR4 bit");
    if (s.long_mode && !(v & cr4_pae)) return fault(vec::gp, 0, "#GP: clearing CR4.PAE in long mode");
    if ((v & cr4_pcide) && !(s.cr4 & cr4_pcide) && (!s.long_mode || (s.cr3 & 0xfff)))
        return fault(vec::gp, 0, "#GP: CR4.PCIDE outside long mode or with CR3[11:0] set");
    std::uint64_t const changed = s.cr4 ^ v;
    s.cr4 = v;
    if (changed & cr4_paging) c.env.tlb_flush(true);
    return {};
}

Step write_cr3(Ctx& c, std::uint64_t v) {
    CpuState& s = c.s;
    bool flush = true;
    if (s.long_mode) {
        if ((s.cr4 & cr4_pcide) && (v >> 63)) {
            flush = false;
            v &= ~(1ull << 63);
        }
        unsigned maxphy = c.env.cpuid(0x80000008, 0).eax & 0xff;
        if (maxphy == 0 || maxphy > 52) maxphy = 52;
        if (v >> maxphy) return fault(vec::gp, 0, "#GP: CR3 bits beyond MAXPHYADDR");
    } else {
        v &= 0xffffffff;
    }
    s.cr3 = v;
    if (flush) c.env.tlb_flush(false);
    return {};
}

Step mov_cr(Ctx& c) {
    unsigned const n = c.d.reg();
    if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8) return fault(vec::ud, "#UD: no such control register");
    if (auto r = ring0(c, "mov cr"); !r) return r;
    unsigned const size = c.d.long64 ? 8 : 4;
    unsigned const reg = c.d.rm();
    CpuState& s = c.s;
    if (c.d.opcode == 0x20) {
        std::uint64_t const v = n == 0 ? s.cr0 : n == 2 ? s.cr2 : n == 3 ? s.cr3 : n == 4 ? s.cr4 : s.cr8;
        c.set(reg, size, v);
        return {};
    }
    std::uint64_t const v = c.get(reg, size);
    switch (n) {
    case 0: return write_cr0(c, v);
    case 2: s.cr2 = v; return {};
    case 3: return write_cr3(c, v);
    case 4: return write_cr4(c, v);
    default:
        if (v >> 4) return fault(vec::gp, 0, "#GP: CR8 bits 63:4 set");
        s.cr8 = v;
        return {};
    }
}

Step mov_dr(Ctx& c) {
    unsigned n = c.d.reg();
    if (n > 7 || ((n == 4 || n == 5) && (c.s.cr4 & cr4_de))) return fault(vec::ud, "#UD: no such debug register");
    if (auto r = ring0(c, "mov dr"); !r) return r;
    if (n == 4 || n == 5) n += 2;   // aliases of DR6/DR7 while CR4.DE is clear
    unsigned const size = c.d.long64 ? 8 : 4;
    if (c.d.opcode == 0x21) {
        c.set(c.d.rm(), size, c.s.dr[n]);
        return {};
    }
    std::uint64_t const v = c.get(c.d.rm(), size);
    if (n >= 6 && (v >> 32)) return fault(vec::gp, 0, "#GP: DR6/DR7 bits 63:32 set");
    c.s.dr[n] = n == 6 ? v | 0xffff0ff0 : n == 7 ? v | 0x400 : v;
    return {};
}

Step clts(Ctx& c) {
    if (auto r = ring0(c, "clts"); !r) return r;
    c.s.cr0 &= ~cr0_ts;
    return {};
}

Step smsw(Ctx& c) {
    if (auto r = umip(c, "smsw"); !r) return r;
    if (c.d.is_mem()) return c.store(c.mem_addr(), static_cast<std::uint16_t>(c.s.cr0));
    c.set(c.d.rm(), c.d.op_size, c.s.cr0 & size_mask(c.d.op_size));
    return {};
}

Step lmsw(Ctx& c) {
    if (auto r = ring0(c, "lmsw"); !r) return r;
    auto v = c.rm_get(2);
    if (!v) return std::unexpected(v.error());
    // Loads PE MP EM TS; PE can be set but never cleared this way.
    return write_cr0(c, (c.s.cr0 & ~0xeull) | (*v & 0xf));
}

template <bool Idt> Step load_table(Ctx& c) {
    if (auto r = ring0(c, Idt ? "lidt" : "lgdt"); !r) return r;
    std::uint64_t const a = c.mem_addr();
    std::uint16_t limit = 0;
    std::uint64_t base = 0;
    if (auto r = c.read(a, &limit, 2); !r) return r;
    if (auto r = c.read(a + 2, &base, c.d.long64 ? 8 : 4); !r) return r;
    if (!c.d.long64 && c.d.op_size == 2) base &= 0xffffff;
    if (c.d.long64 && !canonical(c.s, base)) return fault(vec::gp, 0, "#GP: non-canonical descriptor table base");
    (Idt ? c.s.idtr : c.s.gdtr) = DescTable{base, limit};
    return {};
}

template <bool Idt> Step store_table(Ctx& c) {
    if (auto r = umip(c, Idt ? "sidt" : "sgdt"); !r) return r;
    DescTable const& t = Idt ? c.s.idtr : c.s.gdtr;
    std::uint8_t buf[10];
    std::memcpy(buf, &t.limit, 2);
    std::memcpy(buf + 2, &t.base, 8);
    return c.write(c.mem_addr(), buf, c.d.long64 ? 10 : 6);
}

// LDT and TSS descriptors are 16 bytes in long mode; the second half holds base bits 63:32.
Got<Segment> system_segment(Ctx& c, std::uint16_t sel, Desc& d) {
    Segment seg = to_segment(d.raw, sel);
    if (!c.s.long_mode) return seg;
    if ((sel & ~7u) + 15 > c.s.gdtr.limit) return fault(vec::gp, sel & 0xfffc, "#GP: system descriptor beyond the GDT limit");
    std::uint32_t hi = 0;
    if (auto r = mem_read(c.s, c.env, d.addr + 8, &hi, 4, true); !r) return std::unexpected(r.error());
    seg.base |= std::uint64_t{hi} << 32;
    if (!canonical(c.s, seg.base)) return fault(vec::gp, sel & 0xfffc, "#GP: non-canonical system segment base");
    return seg;
}

Step lldt(Ctx& c) {
    if (auto r = ring0(c, "lldt"); !r) return r;
    auto v = c.rm_get(2);
    if (!v) return std::unexpected(v.error());
    auto const sel = static_cast<std::uint16_t>(*v);
    if ((sel & ~3u) == 0) {
        c.s.ldtr = null_segment(sel);
        return {};
    }
    if (sel & 4) return fault(vec::gp, sel & 0xfffc, "#GP: lldt of an LDT selector");
    auto d = read_desc(c.s, c.env, sel);
    if (!d) return std::unexpected(d.error());
    if (d->s() || d->type() != 2) return fault(vec::gp, sel & 0xfffc, "#GP: lldt of a non-LDT descriptor");
    if (!d->present()) return fault(vec::np, sel & 0xfffc, "#NP: LDT not present");
    auto seg = system_segment(c, sel, *d);
    if (!seg) return std::unexpected(seg.error());
    c.s.ldtr = *seg;
    return {};
}

Step ltr(Ctx& c) {
    if (auto r = ring0(c, "ltr"); !r) return r;
    auto v = c.rm_get(2);
    if (!v) return std::unexpected(v.error());
    auto const sel = static_cast<std::uint16_t>(*v);
    if ((sel & ~3u) == 0) return fault(vec::gp, 0, "#GP: ltr of a null selector");
    if (sel & 4) return fault(vec::gp, sel & 0xfffc, "#GP: ltr of an LDT selector");
    auto d = read_desc(c.s, c.env, sel);
    if (!d) return std::unexpected(d.error());
    if (d->s() || !(d->type() == 9 || (d->type() == 1 && !c.s.long_mode)))
        return fault(vec::gp, sel & 0xfffc, "#GP: ltr of a busy TSS or a non-TSS descriptor");
    if (!d->present()) return fault(vec::np, sel & 0xfffc, "#NP: TSS not present");
    auto seg = system_segment(c, sel, *d);
    if (!seg) return std::unexpected(seg.error());
    d->raw |= 2ull << 40;   // busy
    auto const b = static_cast<std::uint8_t>(d->raw >> 40);
    if (auto r = mem_write(c.s, c.env, d->addr + 5, &b, 1, true); !r) return r;
    seg->attr |= 2;
    c.s.tr = *seg;
    return {};
}

template <bool Tr> Step store_sel(Ctx& c) {
    if (auto r = umip(c, Tr ? "str" : "sldt"); !r) return r;
    std::uint16_t const sel = Tr ? c.s.tr.sel : c.s.ldtr.sel;
    if (c.d.is_mem()) return c.store(c.mem_addr(), sel);
    c.set(c.d.rm(), c.d.op_size, sel);
    return {};
}

Step invlpg(Ctx& c) {
    if (auto r = ring0(c, "invlpg"); !r) return r;
    c.env.tlb_flush_page(c.mem_addr());
    return {};
}

// invpcid: the translation caches do not tag entries by PCID, so a single context flushes all
// non-global entries.
Step invpcid(Ctx& c) {
    if (auto r = ring0(c, "invpcid"); !r) return r;
    std::uint64_t const type = c.get(c.d.reg(), c.d.long64 ? 8 : 4);
    std::uint64_t desc[2] = {0, 0};
    if (auto r = c.read(c.mem_addr(), desc, 16); !r) return r;
    if (type > 3) return fault(vec::gp, 0, "#GP: invpcid type above 3");
    if (desc[0] >> 12) return fault(vec::gp, 0, "#GP: invpcid descriptor reserved bits set");
    if ((type == 0 || type == 1) && (desc[0] & 0xfff) && !(c.s.cr4 & cr4_pcide))
        return fault(vec::gp, 0, "#GP: invpcid of a non-zero PCID with CR4.PCIDE clear");
    switch (type) {
    case 0:
        if (!canonical(c.s, desc[1])) return fault(vec::gp, 0, "#GP: invpcid of a non-canonical address");
        c.env.tlb_flush_page(desc[1]);
        return {};
    case 2: c.env.tlb_flush(true); return {};
    default: c.env.tlb_flush(false); return {};
    }
}

// Guest RAM is ordinary coherent host memory: there is no cache for these to act on.
Step cache_op(Ctx& c) { return ring0(c, "wbinvd/invd"); }

Step hlt(Ctx& c) {
    if (auto r = ring0(c, "hlt"); !r) return r;
    return exit_to_owner(Exit{.kind = ExitKind::hlt});
}

// Protected-mode rule without VME/PVI: IF changes only if CPL <= IOPL.
Step cli(Ctx& c) {
    if (c.s.cpl > iopl(c.s)) return fault(vec::gp, 0, "#GP: cli with CPL > IOPL");
    c.s.rflags &= ~rf_if;
    return {};
}

Step sti(Ctx& c) {
    if (c.s.cpl > iopl(c.s)) return fault(vec::gp, 0, "#GP: sti with CPL > IOPL");
    if (!(c.s.rflags & rf_if)) c.s.interrupt_shadow = true;
    c.s.rflags |= rf_if;
    return {};
}

Step cpuid(Ctx& c) {
    auto const l = c.env.cpuid(static_cast<std::uint32_t>(c.s.gpr[rax]), static_cast<std::uint32_t>(c.s.gpr[rcx]));
    c.s.gpr[rax] = l.eax;
    c.s.gpr[rbx] = l.ebx;
    c.s.gpr[rcx] = l.ecx;
    c.s.gpr[rdx] = l.edx;
    return {};
}

Step xsetbv(Ctx& c) {
    if (!(c.s.cr4 & cr4::osxsave)) return fault(vec::ud, "#UD: xsetbv with CR4.OSXSAVE clear");
    if (auto r = ring0(c, "xsetbv"); !r) return r;
    if (static_cast<std::uint32_t>(c.s.gpr[rcx]) != 0) return fault(vec::gp, 0, "#GP: xsetbv of an unknown XCR");
    std::uint64_t const v = (c.s.gpr[rdx] << 32) | (c.s.gpr[rax] & 0xffffffff);
    auto const l = c.env.cpuid(0xd, 0);
    std::uint64_t const supported = (std::uint64_t{l.edx} << 32) | l.eax | 3;
    if (!(v & 1) || (v & ~supported) || ((v & 4) && !(v & 2)) || (((v >> 5) & 7) && ((v >> 5) & 7) != 7) ||
        (((v >> 5) & 7) && !(v & 4)))
        return fault(vec::gp, 0, "#GP: invalid XCR0 value");
    c.s.xcr0 = v;
    return {};
}

Step no_pmc(Ctx&) { return fault(vec::gp, 0, "#GP: rdpmc of a counter this CPU does not have"); }
Step no_monitor(Ctx&) { return fault(vec::ud, "#UD: monitor/mwait not available"); }

Step hypercall(Ctx&) { return exit_to_owner(Exit{.kind = ExitKind::hypercall}); }

// SDM vol. 1 19.5.2: above IOPL, every bit of the access in the TSS I/O bitmap must be clear.
Step io_allowed(Ctx& c, std::uint16_t port, unsigned size) {
    CpuState const& s = c.s;
    if (s.cpl <= iopl(s)) return {};
    unsigned const type = seg_attr::type(s.tr.attr);
    if (!(s.tr.attr & seg_attr::p) || (type != 9 && type != 11) || s.tr.limit < 0x67)
        return fault(vec::gp, 0, "#GP: port I/O above IOPL without a 32/64-bit TSS");
    std::uint16_t map = 0, bits = 0;
    if (auto r = mem_read(s, c.env, s.tr.base + 0x66, &map, 2, true); !r) return r;
    std::uint32_t const off = map + port / 8u;
    if (off + 1 > s.tr.limit) return fault(vec::gp, 0, "#GP: port beyond the TSS I/O bitmap");
    if (auto r = mem_read(s, c.env, s.tr.base + off, &bits, 2, true); !r) return r;
    if (bits & (((1u << size) - 1) << (port & 7))) return fault(vec::gp, 0, "#GP: port denied by the TSS I/O bitmap");
    return {};
}

Step in_out(Ctx& c) {
    std::uint8_t const op = c.d.opcode;
    unsigned const size = (op & 1) ? (c.d.op_size == 2 ? 2 : 4) : 1;
    bool const write = op & 2;
    auto const port = static_cast<std::uint16_t>(op >= 0xec ? c.s.gpr[rdx] : c.d.imm);
    if (auto r = io_allowed(c, port, size); !r) return r;
    std::uint64_t const value = write ? c.s.gpr[rax] & size_mask(size) : 0;
    return exit_to_owner(Exit{.kind = ExitKind::io, .write = write, .size = static_cast<std::uint8_t>(size), .port = port, .value = value});
}

// lar/lsl/verr/verw: whether the selector names a segment the current CPL and the RPL may see;
// they report through ZF and fault only on the operand or the descriptor read itself.
struct Visible {
    bool ok;
    Desc d;
};

Got<Visible> visible(Ctx& c, std::uint16_t sel) {
    if ((sel & ~3u) == 0) return Visible{false, {}};
    auto d = read_desc(c.s, c.env, sel);
    if (!d) {
        if (d.error().fault.vector == vec::gp) return Visible{false, {}};
        return std::unexpected(d.error());
    }
    bool const ok = (d->s() && d->conforming()) || (d->dpl() >= c.s.cpl && d->dpl() >= (sel & 3u));
    return Visible{ok, *d};
}

void set_zf(Ctx& c, bool z) { c.s.rflags = z ? c.s.rflags | fl::zf : c.s.rflags & ~fl::zf; }

template <bool Write> Step verify(Ctx& c) {
    auto v = c.rm_get(2);
    if (!v) return std::unexpected(v.error());
    auto r = visible(c, static_cast<std::uint16_t>(*v));
    if (!r) return std::unexpected(r.error());
    bool const usable = r->ok && r->d.s() && (Write ? r->d.writable_data() : r->d.readable());
    set_zf(c, usable);
    return {};
}

// System descriptor types lar (Lsl false) or lsl (true) accept; long mode has fewer.
bool system_type_ok(CpuState const& s, unsigned type, bool lsl) {
    if (s.long_mode) return type == 2 || type == 9 || type == 11 || (!lsl && type == 12);
    switch (type) {
    case 1: case 2: case 3: case 9: case 11: return true;
    case 4: case 5: case 12: return !lsl;
    default: return false;
    }
}

template <bool Lsl> Step lar_lsl(Ctx& c) {
    auto v = c.rm_get(2);
    if (!v) return std::unexpected(v.error());
    auto r = visible(c, static_cast<std::uint16_t>(*v));
    if (!r) return std::unexpected(r.error());
    bool const ok = r->ok && (r->d.s() || system_type_ok(c.s, r->d.type(), Lsl));
    set_zf(c, ok);
    if (!ok) return {};
    std::uint64_t const value = Lsl ? to_segment(r->d.raw, 0).limit : (r->d.raw >> 32) & 0x00f0ff00;
    c.set(c.d.reg(), c.d.op_size == 2 ? 2 : 4, value);
    return {};
}

constexpr Row rows[] = {
    {.name = "verr", .ops = "E", .opcode = 0x00, .pfx = Pfx::any, .reg = 4, .fn = verify<false>},
    {.name = "verw", .ops = "E", .opcode = 0x00, .pfx = Pfx::any, .reg = 5, .fn = verify<true>},
    {.name = "lar", .ops = "GE", .opcode = 0x02, .pfx = Pfx::any, .fn = lar_lsl<false>},
    {.name = "lsl", .ops = "GE", .opcode = 0x03, .pfx = Pfx::any, .fn = lar_lsl<true>},
    {.name = "mov", .opcode = 0x20, .pfx = Pfx::any, .fn = mov_cr},
    {.name = "mov", .opcode = 0x22, .pfx = Pfx::any, .fn = mov_cr},
    {.name = "mov", .opcode = 0x21, .pfx = Pfx::any, .fn = mov_dr},
    {.name = "mov", .opcode = 0x23, .pfx = Pfx::any, .fn = mov_dr},
    {.name = "clts", .opcode = 0x06, .fn = clts},
    {.name = "smsw", .ops = "E", .opcode = 0x01, .pfx = Pfx::any, .reg = 4, .fn = smsw},
    {.name = "lmsw", .ops = "E", .opcode = 0x01, .pfx = Pfx::any, .reg = 6, .fn = lmsw},
    {.name = "sgdt", .ops = "M", .opcode = 0x01, .mod = Mod::mem, .reg = 0, .fn = store_table<false>},
    {.name = "sidt", .ops = "M", .opcode = 0x01, .mod = Mod::mem, .reg = 1, .fn = store_table<true>},
    {.name = "lgdt", .ops = "M", .opcode = 0x01, .mod = Mod::mem, .reg = 2, .fn = load_table<false>},
    {.name = "lidt", .ops = "M", .opcode = 0x01, .mod = Mod::mem, .reg = 3, .fn = load_table<true>},
    {.name = "invlpg", .ops = "M", .opcode = 0x01, .mod = Mod::mem, .reg = 7, .fn = invlpg},
    {.name = "sldt", .ops = "E", .opcode = 0x00, .pfx = Pfx::any, .reg = 0, .fn = store_sel<false>},
    {.name = "str", .ops = "E", .opcode = 0x00, .pfx = Pfx::any, .reg = 1, .fn = store_sel<true>},
    {.name = "lldt", .ops = "E", .opcode = 0x00, .pfx = Pfx::any, .reg = 2, .fn = lldt},
    {.name = "ltr", .ops = "E", .opcode = 0x00, .pfx = Pfx::any, .reg = 3, .fn = ltr},
    {.name = "invpcid", .ops = "GM", .map = Map::m0f38, .opcode = 0x82, .pfx = Pfx::p66, .mod = Mod::mem, .fn = invpcid},
    {.name = "invd", .opcode = 0x08, .fn = cache_op},
    {.name = "wbinvd", .opcode = 0x09, .fn = cache_op},
    {.name = "hlt", .map = Map::one, .opcode = 0xf4, .pfx = Pfx::any, .fn = hlt},
    {.name = "cli", .map = Map::one, .opcode = 0xfa, .pfx = Pfx::any, .fn = cli},
    {.name = "sti", .map = Map::one, .opcode = 0xfb, .pfx = Pfx::any, .fn = sti},
    {.name = "cpuid", .opcode = 0xa2, .fn = cpuid},
    {.name = "xsetbv", .opcode = 0x01, .mod = Mod::reg, .reg = 2, .rm = 1, .fn = xsetbv},
    {.name = "rdpmc", .opcode = 0x33, .fn = no_pmc},
    {.name = "monitor", .opcode = 0x01, .mod = Mod::reg, .reg = 1, .rm = 0, .fn = no_monitor},
    {.name = "mwait", .opcode = 0x01, .mod = Mod::reg, .reg = 1, .rm = 1, .fn = no_monitor},
    {.name = "vmcall", .opcode = 0x01, .mod = Mod::reg, .reg = 0, .rm = 1, .fn = hypercall},
    {.name = "vmmcall", .opcode = 0x01, .mod = Mod::reg, .reg = 3, .rm = 1, .fn = hypercall},
    {.name = "in", .map = Map::one, .opcode = 0xe4, .pfx = Pfx::any, .fn = in_out},
    {.name = "in", .map = Map::one, .opcode = 0xe5, .pfx = Pfx::any, .fn = in_out},
    {.name = "out", .map = Map::one, .opcode = 0xe6, .pfx = Pfx::any, .fn = in_out},
    {.name = "out", .map = Map::one, .opcode = 0xe7, .pfx = Pfx::any, .fn = in_out},
    {.name = "in", .map = Map::one, .opcode = 0xec, .pfx = Pfx::any, .fn = in_out},
    {.name = "in", .map = Map::one, .opcode = 0xed, .pfx = Pfx::any, .fn = in_out},
    {.name = "out", .map = Map::one, .opcode = 0xee, .pfx = Pfx::any, .fn = in_out},
    {.name = "out", .map = Map::one, .opcode = 0xef, .pfx = Pfx::any, .fn = in_out},
};

} // namespace

std::span<Row const> sys_ctl_rows() { return rows; }

} // namespace kxen::soft
