#include "hv/vcpu/vcpu.hpp"
#include "hv/domain/domain.hpp"

namespace kxen::hv {

vcpu_info* Vcpu::info() const {
    if (auto* p = info_area_.load()) return p;
    auto* s = dom_->shinfo();
    if (!s || id_ >= XEN_LEGACY_MAX_VCPUS) return nullptr;
    return &s->vcpu_info[id_];
}


XenResult<void> Vcpu::load_hvm_context(vcpu_hvm_context_t const& ctx) {
    if (ctx.mode != VCPU_HVM_MODE_32B) return xen_fail(XenErr::inval);   // PVH starts in 32-bit
    auto const& c = ctx.cpu_regs.x86_32;
    auto sregs = cpu_->get_sregs();
    if (!sregs) return xen_fail(XenErr::inval);
    // Xen's arch_set_info_hvm_guest() refuses segments a VM entry would reject; check the same.
    if ((c.cs_ar & 0x80) == 0 || (c.cr0 & 1) == 0) return xen_fail(XenErr::inval);
    sregs->cs = segment_from_attr(0x8, c.cs_base, c.cs_limit, c.cs_ar);
    sregs->ds = segment_from_attr(0x10, c.ds_base, c.ds_limit, c.ds_ar);
    sregs->ss = segment_from_attr(0x10, c.ss_base, c.ss_limit, c.ss_ar);
    sregs->es = segment_from_attr(0x10, c.es_base, c.es_limit, c.es_ar);
    sregs->fs = sregs->ds;
    sregs->gs = sregs->ds;
    sregs->tr = segment_from_attr(0x18, c.tr_base, c.tr_limit, c.tr_ar);
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
    if (!cpu_->set_sregs(*sregs)) return xen_fail(XenErr::inval);
    auto& r = cpu_->regs();
    r = {};
    r.rax = c.eax; r.rbx = c.ebx; r.rcx = c.ecx; r.rdx = c.edx;
    r.rsi = c.esi; r.rdi = c.edi; r.rbp = c.ebp; r.rsp = c.esp;
    r.rip = c.eip;
    r.rflags = c.eflags | 2;
    cpu_->regs_dirty();
    up = true;
    return {};
}

} // namespace kxen::hv
