// rdmsr/wrmsr of the MSRs the software vCPU keeps itself, and the fast system calls that use
// them: syscall/sysret, sysenter/sysexit, swapgs (SDM vol. 2; vol. 4 for the MSRs).
#include "soft/sys.hpp"
#include "soft/table.hpp"

namespace kxen::soft {
namespace {

using namespace sys;
constexpr unsigned r11 = 11;

namespace msr {
inline constexpr std::uint32_t tsc = 0x10, apic_base = 0x1b, ucode_rev = 0x8b, mtrr_cap = 0xfe,
                               sysenter_cs = 0x174, sysenter_esp = 0x175, sysenter_eip = 0x176,
                               misc_enable = 0x1a0, pat = 0x277, mtrr_def_type = 0x2ff,
                               efer = 0xc0000080, star = 0xc0000081, lstar = 0xc0000082, cstar = 0xc0000083,
                               sfmask = 0xc0000084, fs_base = 0xc0000100, gs_base = 0xc0000101,
                               kernel_gs_base = 0xc0000102, tsc_aux = 0xc0000103;
}

// No variable or fixed ranges; everything is write-back by the default type.
constexpr std::uint64_t mtrr_def_type_value = 0x806;

std::unexpected<Result> gp0(char const* what) { return fault(vec::gp, 0, what); }

Got<std::uint64_t> read_msr(Ctx& c, std::uint32_t index) {
    CpuState const& s = c.s;
    switch (index) {
    case msr::tsc: return c.env.rdtsc() + s.msr.tsc_offset;
    case msr::apic_base: return s.msr.apic_base;
    case msr::ucode_rev: return 0;
    case msr::mtrr_cap: return 0;
    case msr::sysenter_cs: return s.msr.sysenter_cs;
    case msr::sysenter_esp: return s.msr.sysenter_esp;
    case msr::sysenter_eip: return s.msr.sysenter_eip;
    case msr::misc_enable: return s.msr.misc_enable;
    case msr::pat: return s.msr.pat;
    case msr::mtrr_def_type: return mtrr_def_type_value;
    case msr::efer: return s.efer;
    case msr::star: return s.msr.star;
    case msr::lstar: return s.msr.lstar;
    case msr::cstar: return s.msr.cstar;
    case msr::sfmask: return s.msr.sfmask;
    case msr::fs_base: return s.seg[fs].base;
    case msr::gs_base: return s.seg[gs].base;
    case msr::kernel_gs_base: return s.msr.kernel_gs_base;
    case msr::tsc_aux: return s.tsc_aux;
    default: return gp0("#GP: rdmsr of an unknown MSR");
    }
}

Step write_efer(Ctx& c, std::uint64_t v) {
    CpuState& s = c.s;
    if (v & ~(efer_sce | efer_lme | efer_lma | efer_nxe)) return gp0("#GP: reserved EFER bit");
    if (((v ^ s.efer) & efer_lme) && (s.cr0 & cr0_pg)) return gp0("#GP: EFER.LME changed with paging on");
    v = (v & ~efer_lma) | (s.efer & efer_lma);   // LMA follows CR0.PG, never a write
    bool const nx_changed = (v ^ s.efer) & efer_nxe;
    s.efer = v;
    sync_derived(s);
    if (nx_changed) c.env.tlb_flush(true);
    return {};
}

Step canonical_into(Ctx& c, std::uint64_t v, std::uint64_t& dst) {
    if (!canonical(c.s, v)) return gp0("#GP: non-canonical MSR value");
    dst = v;
    return {};
}

Step write_msr(Ctx& c, std::uint32_t index, std::uint64_t v) {
    CpuState& s = c.s;
    switch (index) {
    case msr::tsc: s.msr.tsc_offset = v - c.env.rdtsc(); return {};
    case msr::apic_base:
        if (v != s.msr.apic_base) return gp0("#GP: APIC base cannot be changed");
        return {};
    case msr::ucode_rev: return {};
    case msr::mtrr_def_type:
        if (v != mtrr_def_type_value) return gp0("#GP: MTRR default type cannot be changed");
        return {};
    case msr::sysenter_cs: s.msr.sysenter_cs = v; return {};
    case msr::sysenter_esp: return canonical_into(c, v, s.msr.sysenter_esp);
    case msr::sysenter_eip: return canonical_into(c, v, s.msr.sysenter_eip);
    case msr::misc_enable: s.msr.misc_enable = v; return {};
    case msr::pat:
        for (unsigned i = 0; i < 8; ++i) {
            unsigned const t = (v >> (8 * i)) & 0xff;
            if (t == 2 || t == 3 || t > 7) return gp0("#GP: invalid PAT memory type");
        }
        s.msr.pat = v;
        return {};
    case msr::efer: return write_efer(c, v);
    case msr::star: s.msr.star = v; return {};
    case msr::lstar: return canonical_into(c, v, s.msr.lstar);
    case msr::cstar: return canonical_into(c, v, s.msr.cstar);
    case msr::sfmask:
        if (v >> 32) return gp0("#GP: SFMASK bits 63:32 set");
        s.msr.sfmask = v;
        return {};
    case msr::fs_base: return canonical_into(c, v, s.seg[fs].base);
    case msr::gs_base: return canonical_into(c, v, s.seg[gs].base);
    case msr::kernel_gs_base: return canonical_into(c, v, s.msr.kernel_gs_base);
    case msr::tsc_aux:
        if (v >> 32) return gp0("#GP: TSC_AUX bits 63:32 set");
        s.tsc_aux = v;
        return {};
    default: return gp0("#GP: wrmsr of an unknown MSR");
    }
}

Step rdmsr(Ctx& c) {
    if (c.s.cpl != 0) return gp0("#GP: rdmsr at CPL>0");
    auto const index = static_cast<std::uint32_t>(c.s.gpr[rcx]);
    if (c.env.msr_exits(index, false)) return exit_to_owner(Exit{.kind = ExitKind::rdmsr, .msr = index});
    auto v = read_msr(c, index);
    if (!v) return std::unexpected(v.error());
    c.s.gpr[rax] = *v & 0xffffffff;
    c.s.gpr[rdx] = *v >> 32;
    return {};
}

Step wrmsr(Ctx& c) {
    if (c.s.cpl != 0) return gp0("#GP: wrmsr at CPL>0");
    auto const index = static_cast<std::uint32_t>(c.s.gpr[rcx]);
    std::uint64_t const v = (c.s.gpr[rdx] << 32) | (c.s.gpr[rax] & 0xffffffff);
    if (c.env.msr_exits(index, true)) return exit_to_owner(Exit{.kind = ExitKind::wrmsr, .msr = index, .value = v});
    return write_msr(c, index, v);
}

// The flat segments syscall/sysret/sysenter/sysexit load without reading descriptors.
constexpr std::uint16_t attr_code = 0xb | seg_attr::s | seg_attr::p | seg_attr::g;
constexpr std::uint16_t attr_data = 0x3 | seg_attr::s | seg_attr::p | seg_attr::db | seg_attr::g;

Segment flat(std::uint16_t sel, std::uint16_t attr, unsigned dpl) {
    return Segment{0, 0xffffffff, sel, static_cast<std::uint16_t>(attr | (dpl << 5))};
}

Step syscall(Ctx& c) {
    CpuState& s = c.s;
    if (!long64(s) || !(s.efer & efer_sce)) return fault(vec::ud, "#UD: syscall outside 64-bit mode or with EFER.SCE clear");
    auto const sel = static_cast<std::uint16_t>((s.msr.star >> 32) & 0xfffc);
    s.gpr[rcx] = s.rip + c.d.length;
    s.gpr[r11] = s.rflags & ~rf_rf;
    s.rflags = (s.rflags & ~(s.msr.sfmask | rf_rf)) | 2;
    set_cs(s, flat(sel, attr_code | seg_attr::l, 0), 0);
    s.seg[ss] = flat(static_cast<std::uint16_t>(sel + 8), attr_data, 0);
    c.jump(s.msr.lstar);
    return {};
}

Step sysret(Ctx& c) {
    CpuState& s = c.s;
    if (!long64(s) || !(s.efer & efer_sce)) return fault(vec::ud, "#UD: sysret outside 64-bit mode or with EFER.SCE clear");
    if (s.cpl != 0) return gp0("#GP: sysret at CPL>0");
    bool const to64 = c.d.rex_w();
    if (to64 && !canonical(s, s.gpr[rcx])) return gp0("#GP: sysret to a non-canonical RCX");
    auto const base = static_cast<std::uint16_t>(s.msr.star >> 48);
    std::uint64_t const rip = to64 ? s.gpr[rcx] : s.gpr[rcx] & 0xffffffff;
    s.rflags = (s.gpr[r11] & 0x3c7fd7) | 2;
    if (to64)
        set_cs(s, flat(static_cast<std::uint16_t>((base + 16) | 3), attr_code | seg_attr::l, 3), 3);
    else
        set_cs(s, flat(static_cast<std::uint16_t>(base | 3), attr_code | seg_attr::db, 3), 3);
    s.seg[ss] = flat(static_cast<std::uint16_t>((base + 8) | 3), attr_data, 3);
    c.jump(rip);
    return {};
}

Step sysenter(Ctx& c) {
    CpuState& s = c.s;
    auto const sel = static_cast<std::uint16_t>(s.msr.sysenter_cs & 0xfffc);
    if (sel == 0) return gp0("#GP: sysenter with SYSENTER_CS null");
    s.rflags &= ~(rf_vm | rf_if | rf_rf);
    if (s.long_mode)
        set_cs(s, flat(sel, attr_code | seg_attr::l, 0), 0);
    else
        set_cs(s, flat(sel, attr_code | seg_attr::db, 0), 0);
    s.seg[ss] = flat(static_cast<std::uint16_t>(sel + 8), attr_data, 0);
    s.gpr[rsp] = s.long_mode ? s.msr.sysenter_esp : s.msr.sysenter_esp & 0xffffffff;
    c.jump(s.long_mode ? s.msr.sysenter_eip : s.msr.sysenter_eip & 0xffffffff);
    return {};
}

Step sysexit(Ctx& c) {
    CpuState& s = c.s;
    auto const base = static_cast<std::uint16_t>(s.msr.sysenter_cs);
    if ((base & 0xfffc) == 0) return gp0("#GP: sysexit with SYSENTER_CS null");
    if (s.cpl != 0) return gp0("#GP: sysexit at CPL>0");
    bool const to64 = c.d.rex_w();
    if (to64 && (!canonical(s, s.gpr[rdx]) || !canonical(s, s.gpr[rcx]))) return gp0("#GP: sysexit to a non-canonical RIP or RSP");
    std::uint64_t const rip = to64 ? s.gpr[rdx] : s.gpr[rdx] & 0xffffffff;
    std::uint64_t const sp = to64 ? s.gpr[rcx] : s.gpr[rcx] & 0xffffffff;
    if (to64) {
        set_cs(s, flat(static_cast<std::uint16_t>((base + 32) | 3), attr_code | seg_attr::l, 3), 3);
        s.seg[ss] = flat(static_cast<std::uint16_t>((base + 40) | 3), attr_data, 3);
    } else {
        set_cs(s, flat(static_cast<std::uint16_t>((base + 16) | 3), attr_code | seg_attr::db, 3), 3);
        s.seg[ss] = flat(static_cast<std::uint16_t>((base + 24) | 3), attr_data, 3);
    }
    s.gpr[rsp] = sp;
    c.jump(rip);
    return {};
}

Step swapgs(Ctx& c) {
    if (!c.d.long64) return fault(vec::ud, "#UD: swapgs outside 64-bit mode");
    if (c.s.cpl != 0) return gp0("#GP: swapgs at CPL>0");
    std::swap(c.s.seg[gs].base, c.s.msr.kernel_gs_base);
    return {};
}

// rdfsbase/rdgsbase/wrfsbase/wrgsbase, at any CPL once the kernel set CR4.FSGSBASE.
template <int Seg, bool Write> Step fsgsbase(Ctx& c) {
    if (!c.d.long64 || !(c.s.cr4 & (1u << 16))) return fault(vec::ud, "#UD: fsgsbase outside 64-bit mode or with CR4.FSGSBASE clear");
    unsigned const size = c.d.rex_w() ? 8 : 4;
    if (!Write) {
        c.set(c.d.rm(), size, c.s.seg[Seg].base);
        return {};
    }
    std::uint64_t const v = c.get(c.d.rm(), size);
    if (!canonical(c.s, v)) return gp0("#GP: non-canonical segment base");
    c.s.seg[Seg].base = v;
    return {};
}

constexpr Row rows[] = {
    {.name = "rdfsbase", .ops = "Z", .opcode = 0xae, .pfx = Pfx::pf3, .mod = Mod::reg, .reg = 0, .fn = fsgsbase<fs, false>},
    {.name = "rdgsbase", .ops = "Z", .opcode = 0xae, .pfx = Pfx::pf3, .mod = Mod::reg, .reg = 1, .fn = fsgsbase<gs, false>},
    {.name = "wrfsbase", .ops = "Z", .opcode = 0xae, .pfx = Pfx::pf3, .mod = Mod::reg, .reg = 2, .fn = fsgsbase<fs, true>},
    {.name = "wrgsbase", .ops = "Z", .opcode = 0xae, .pfx = Pfx::pf3, .mod = Mod::reg, .reg = 3, .fn = fsgsbase<gs, true>},
    {.name = "rdmsr", .opcode = 0x32, .fn = rdmsr},
    {.name = "wrmsr", .opcode = 0x30, .fn = wrmsr},
    {.name = "syscall", .opcode = 0x05, .fn = syscall},
    {.name = "sysret", .opcode = 0x07, .fn = sysret},
    {.name = "sysenter", .opcode = 0x34, .fn = sysenter},
    {.name = "sysexit", .opcode = 0x35, .fn = sysexit},
    {.name = "swapgs", .opcode = 0x01, .mod = Mod::reg, .reg = 7, .rm = 0, .fn = swapgs},
};

} // namespace

std::span<Row const> sys_msr_rows() { return rows; }

} // namespace kxen::soft
