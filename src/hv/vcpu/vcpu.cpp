#include "hv/vcpu/vcpu.hpp"
#include "hv/domain/domain.hpp"

namespace kxen::hv {

vcpu_info* Vcpu::info() const {
    if (auto* p = info_area_.load()) return p;
    auto* s = dom_->shinfo();
    if (!s || id_ >= XEN_LEGACY_MAX_VCPUS) return nullptr;
    return &s->vcpu_info[id_];
}

namespace {
kvm_segment segment_from(std::uint32_t base, std::uint32_t limit,
                         std::uint16_t ar, std::uint16_t selector) {
    kvm_segment s{};
    s.base = base;
    s.limit = limit;
    s.selector = selector;
    // Xen's hvm_vcpu context packs the VMX access rights: type 3:0, s 4, dpl 6:5, p 7, avl 8,
    // l 9, db 10, g 11.
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
} // namespace

XenResult<void> Vcpu::load_hvm_context(vcpu_hvm_context_t const& ctx) {
    if (ctx.mode != VCPU_HVM_MODE_32B) return xen_fail(XenErr::inval);   // PVH starts in 32-bit
    auto const& c = ctx.cpu_regs.x86_32;
    auto sregs = fd_.get_sregs();
    if (!sregs) return xen_fail(XenErr::inval);
    // Xen's arch_set_info_hvm_guest() refuses segments a VM entry would reject; check the same.
    if ((c.cs_ar & 0x80) == 0 || (c.cr0 & 1) == 0) return xen_fail(XenErr::inval);
    sregs->cs = segment_from(c.cs_base, c.cs_limit, c.cs_ar, 0x8);
    sregs->ds = segment_from(c.ds_base, c.ds_limit, c.ds_ar, 0x10);
    sregs->ss = segment_from(c.ss_base, c.ss_limit, c.ss_ar, 0x10);
    sregs->es = segment_from(c.es_base, c.es_limit, c.es_ar, 0x10);
    sregs->fs = sregs->ds;
    sregs->gs = sregs->ds;
    sregs->tr = segment_from(c.tr_base, c.tr_limit, c.tr_ar, 0x18);
    sregs->ldt = {};
    sregs->ldt.unusable = 1;
    sregs->ldt.type = 2;
    sregs->ldt.present = 1;
    sregs->cr0 = c.cr0;
    sregs->cr3 = c.cr3;
    sregs->cr4 = c.cr4;
    sregs->efer = c.efer;
    sregs->gdt = {};
    sregs->idt = {};
    if (!fd_.set_sregs(*sregs)) return xen_fail(XenErr::inval);
    auto& r = fd_.regs();
    r = {};
    r.rax = c.eax; r.rbx = c.ebx; r.rcx = c.ecx; r.rdx = c.edx;
    r.rsi = c.esi; r.rdi = c.edi; r.rbp = c.ebp; r.rsp = c.esp;
    r.rip = c.eip;
    r.rflags = c.eflags | 2;
    fd_.regs_dirty();
    up = true;
    return {};
}

} // namespace kxen::hv
