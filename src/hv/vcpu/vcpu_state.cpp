// A vCPU's architectural state as Xen's HVM save record (struct hvm_hw_cpu), for
// XEN_DOMCTL_gethvmcontext/sethvmcontext and so for save, restore and migration.
#include <cstring>
#include <x86intrin.h>
#include "hv/vcpu/vcpu.hpp"

namespace kxen::hv {

std::uint32_t attr_of(kvm_segment const& s) {
    if (s.unusable) return 0;
    return (s.type & 0xfu) | (s.s & 1u) << 4 | (s.dpl & 3u) << 5 | (s.present & 1u) << 7 | (s.avl & 1u) << 8 |
           (s.l & 1u) << 9 | (s.db & 1u) << 10 | (s.g & 1u) << 11;
}

kvm_segment segment_from_attr(std::uint32_t sel, std::uint64_t base, std::uint32_t limit, std::uint32_t ar) {
    kvm_segment s{};
    s.selector = static_cast<std::uint16_t>(sel);
    s.base = base;
    s.limit = limit;
    s.type = ar & 0xf;
    s.s = (ar >> 4) & 1;
    s.dpl = (ar >> 5) & 3;
    s.present = (ar >> 7) & 1;
    s.avl = (ar >> 8) & 1;
    s.l = (ar >> 9) & 1;
    s.db = (ar >> 10) & 1;
    s.g = (ar >> 11) & 1;
    s.unusable = !s.present;
    return s;
}

namespace {

struct MsrField {
    std::uint32_t index;
    std::uint64_t hvm_hw_cpu::*field;
};
constexpr MsrField msrs[] = {
    {0x174, &hvm_hw_cpu::sysenter_cs},       {0x175, &hvm_hw_cpu::sysenter_esp},
    {0x176, &hvm_hw_cpu::sysenter_eip},      {0xc0000102, &hvm_hw_cpu::shadow_gs},
    {0xc0000082, &hvm_hw_cpu::msr_lstar},    {0xc0000081, &hvm_hw_cpu::msr_star},
    {0xc0000083, &hvm_hw_cpu::msr_cstar},    {0xc0000084, &hvm_hw_cpu::msr_syscall_mask},
    {0xc0000103, &hvm_hw_cpu::msr_tsc_aux},
};

constexpr std::size_t fxsave_bytes = 512;
constexpr std::size_t xstate_bv_offset = 512;   // the XSAVE header follows the legacy area

} // namespace

XenResult<void> Vcpu::save_hw_cpu(hvm_hw_cpu& c) {
    c = {};
    auto sregs = cpu_->get_sregs();
    if (!sregs) return xen_fail(XenErr::io);
    auto const& r = cpu_->regs();
    c.rax = r.rax; c.rbx = r.rbx; c.rcx = r.rcx; c.rdx = r.rdx;
    c.rbp = r.rbp; c.rsi = r.rsi; c.rdi = r.rdi; c.rsp = r.rsp;
    c.r8 = r.r8; c.r9 = r.r9; c.r10 = r.r10; c.r11 = r.r11;
    c.r12 = r.r12; c.r13 = r.r13; c.r14 = r.r14; c.r15 = r.r15;
    c.rip = r.rip;
    c.rflags = r.rflags;
    auto const& s = *sregs;
    c.cr0 = s.cr0; c.cr2 = s.cr2; c.cr3 = s.cr3; c.cr4 = s.cr4;
    c.msr_efer = s.efer;
    struct Seg {
        kvm_segment const& k;
        std::uint32_t& sel; std::uint32_t& limit; std::uint64_t& base; std::uint32_t& ar;
    };
    for (auto const& g : {Seg{s.cs, c.cs_sel, c.cs_limit, c.cs_base, c.cs_arbytes},
                          Seg{s.ds, c.ds_sel, c.ds_limit, c.ds_base, c.ds_arbytes},
                          Seg{s.es, c.es_sel, c.es_limit, c.es_base, c.es_arbytes},
                          Seg{s.fs, c.fs_sel, c.fs_limit, c.fs_base, c.fs_arbytes},
                          Seg{s.gs, c.gs_sel, c.gs_limit, c.gs_base, c.gs_arbytes},
                          Seg{s.ss, c.ss_sel, c.ss_limit, c.ss_base, c.ss_arbytes},
                          Seg{s.tr, c.tr_sel, c.tr_limit, c.tr_base, c.tr_arbytes},
                          Seg{s.ldt, c.ldtr_sel, c.ldtr_limit, c.ldtr_base, c.ldtr_arbytes}}) {
        g.sel = g.k.selector;
        g.limit = g.k.limit;
        g.base = g.k.base;
        g.ar = attr_of(g.k);
    }
    c.gdtr_base = s.gdt.base; c.gdtr_limit = s.gdt.limit;
    c.idtr_base = s.idt.base; c.idtr_limit = s.idt.limit;
    for (auto const& m : msrs)
        if (auto v = cpu_->get_msr(m.index)) c.*m.field = *v;
    // The guest's TSC is the host's here (offset 0, DESIGN-NOTES.md).
    c.tsc = __rdtsc();
    kvm_xsave x{};
    if (!cpu_->get_xsave(x)) return xen_fail(XenErr::io);
    std::memcpy(c.fpu_regs, x.region, fxsave_bytes);
    c.flags = XEN_X86_FPU_INITIALISED;
    return {};
}

XenResult<void> Vcpu::load_hw_cpu(hvm_hw_cpu const& c) {
    // What a VM entry would refuse is refused here, as Xen's hvm_load_cpu_ctxt does.
    if ((c.cr0 & 1) == 0 && (c.msr_efer & 0x400)) return xen_fail(XenErr::inval);   // long mode without PE
    if (c.pending_valid) return xen_fail(XenErr::inval);   // kxend never saves one
    auto sregs = cpu_->get_sregs();
    if (!sregs) return xen_fail(XenErr::io);
    auto& s = *sregs;
    s.cs = segment_from_attr(c.cs_sel, c.cs_base, c.cs_limit, c.cs_arbytes);
    s.ds = segment_from_attr(c.ds_sel, c.ds_base, c.ds_limit, c.ds_arbytes);
    s.es = segment_from_attr(c.es_sel, c.es_base, c.es_limit, c.es_arbytes);
    s.fs = segment_from_attr(c.fs_sel, c.fs_base, c.fs_limit, c.fs_arbytes);
    s.gs = segment_from_attr(c.gs_sel, c.gs_base, c.gs_limit, c.gs_arbytes);
    s.ss = segment_from_attr(c.ss_sel, c.ss_base, c.ss_limit, c.ss_arbytes);
    s.tr = segment_from_attr(c.tr_sel, c.tr_base, c.tr_limit, c.tr_arbytes);
    s.ldt = segment_from_attr(c.ldtr_sel, c.ldtr_base, c.ldtr_limit, c.ldtr_arbytes);
    s.gdt = {};
    s.gdt.base = c.gdtr_base;
    s.gdt.limit = static_cast<std::uint16_t>(c.gdtr_limit);
    s.idt = {};
    s.idt.base = c.idtr_base;
    s.idt.limit = static_cast<std::uint16_t>(c.idtr_limit);
    s.cr0 = c.cr0; s.cr2 = c.cr2; s.cr3 = c.cr3; s.cr4 = c.cr4;
    s.efer = c.msr_efer;
    std::memset(s.interrupt_bitmap, 0, sizeof s.interrupt_bitmap);
    if (!cpu_->set_sregs(s)) return xen_fail(XenErr::inval);
    for (auto const& m : msrs) (void)cpu_->set_msr(m.index, c.*m.field);
    if (c.flags & XEN_X86_FPU_INITIALISED) {
        kvm_xsave x{};
        if (!cpu_->get_xsave(x)) return xen_fail(XenErr::io);
        std::memcpy(x.region, c.fpu_regs, fxsave_bytes);
        // x87 and SSE state come from the legacy area just written.
        std::uint64_t bv;
        std::memcpy(&bv, reinterpret_cast<std::byte const*>(x.region) + xstate_bv_offset, sizeof bv);
        bv |= 3;
        std::memcpy(reinterpret_cast<std::byte*>(x.region) + xstate_bv_offset, &bv, sizeof bv);
        if (!cpu_->set_xsave(x)) return xen_fail(XenErr::inval);
    }
    auto& r = cpu_->regs();
    r = {};
    r.rax = c.rax; r.rbx = c.rbx; r.rcx = c.rcx; r.rdx = c.rdx;
    r.rbp = c.rbp; r.rsi = c.rsi; r.rdi = c.rdi; r.rsp = c.rsp;
    r.r8 = c.r8; r.r9 = c.r9; r.r10 = c.r10; r.r11 = c.r11;
    r.r12 = c.r12; r.r13 = c.r13; r.r14 = c.r14; r.r15 = c.r15;
    r.rip = c.rip;
    r.rflags = c.rflags | 2;
    cpu_->regs_dirty();
    up = true;
    return {};
}

} // namespace kxen::hv
