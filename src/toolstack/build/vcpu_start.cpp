#include "toolstack/build/vcpu_start.hpp"

namespace kxen::toolstack::build {
namespace {

// Architectural bits, named as Xen's xg_dom_x86.c names them.
constexpr std::uint32_t X86_CR0_PE = 0x01;   // protected mode
constexpr std::uint32_t X86_CR0_ET = 0x10;   // extension type: always one on modern CPUs
constexpr std::uint32_t X86_EFLAGS_MBS = 0x02;   // bit 1 reads as one

// Segment attributes in VMX "access rights" form (type, S, DPL, P, AVL, L, D/B, G).
constexpr std::uint16_t flat_code_ar = 0xc9b;   // code, exec/read, accessed, present, 32-bit, 4 KiB granular
constexpr std::uint16_t flat_data_ar = 0xc93;   // data, read/write, accessed, present, 32-bit, 4 KiB granular
constexpr std::uint16_t tss_busy_ar = 0x8b;     // 32-bit TSS, busy, present

} // namespace

vcpu_hvm_context_t pvh_vcpu_context(PvhLayout const& layout) {
    vcpu_hvm_context_t ctx{};
    ctx.mode = VCPU_HVM_MODE_32B;
    auto& r = ctx.cpu_regs.x86_32;
    r.eip = layout.entry;
    // start_info_gpa is below the MMIO hole, so it fits in EBX.
    r.ebx = static_cast<std::uint32_t>(layout.start_info_gpa);
    r.eflags = X86_EFLAGS_MBS;
    r.cr0 = X86_CR0_PE | X86_CR0_ET;
    r.cs_base = r.ds_base = r.ss_base = r.es_base = r.tr_base = 0;
    r.cs_limit = r.ds_limit = r.ss_limit = r.es_limit = 0xffffffff;
    r.tr_limit = 0x67;   // the size of a 32-bit TSS, minus one
    r.cs_ar = flat_code_ar;
    r.ds_ar = r.es_ar = r.ss_ar = flat_data_ar;
    r.tr_ar = tss_busy_ar;
    return ctx;
}

} // namespace kxen::toolstack::build
