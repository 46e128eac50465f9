// kxen::accel: what runs a guest's vCPUs. Two implementations behind one interface: KVM
// (src/kvm) and the software vCPU (src/soft). Both speak KVM's vocabulary (kvm_run exits,
// kvm_regs/kvm_sregs/kvm_fpu/kvm_xsave), so that the hypervisor above (src/hv) has one code
// path whichever runs. Nothing Xen here.
#pragma once
#include <linux/kvm.h>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>
#include "common/sys_error.hpp"

namespace kxen::accel {

class Vcpu {
public:
    virtual ~Vcpu() = default;

    // Run until an exit. false (no error): the run was cut short by request_exit().
    virtual SysResult<bool> run() = 0;
    // Make the current or next run() return soon (KVM: at once; soft: within a block of
    // instructions); safe from any thread.
    virtual void request_exit() = 0;

    [[nodiscard]] kvm_run& run_state() const { return *run_; }
    // The GPRs as of the last exit, kept in kvm_run (KVM_CAP_SYNC_REGS).
    [[nodiscard]] kvm_regs& regs() const { return run_->s.regs.regs; }
    // Say that regs() was changed and must be loaded on the next run().
    void regs_dirty() const { run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS; }

    // Finish the instruction of the last exit (port I/O, MMIO, MSR access) without running the
    // guest: until then the registers are not the guest's state after it.
    virtual SysResult<void> complete_pending() = 0;
    virtual SysResult<kvm_sregs> get_sregs() = 0;
    virtual SysResult<void> set_sregs(kvm_sregs const& s) = 0;
    virtual SysResult<kvm_fpu> get_fpu() = 0;
    virtual SysResult<void> set_fpu(kvm_fpu const& f) = 0;
    // kvm_xsave ends in a flexible array, so it cannot travel in a std::expected.
    virtual SysResult<void> get_xsave(kvm_xsave& out) = 0;
    virtual SysResult<void> set_xsave(kvm_xsave const& x) = 0;
    virtual SysResult<kvm_xcrs> get_xcrs() = 0;
    virtual SysResult<std::uint64_t> get_msr(std::uint32_t index) = 0;
    virtual SysResult<void> set_msr(std::uint32_t index, std::uint64_t value) = 0;
    virtual SysResult<void> set_cpuid(std::span<kvm_cpuid_entry2 const> entries) = 0;
    // Queue an external interrupt (no in-kernel irqchip), delivered on the next entry. Only
    // when kvm_run says ready_for_interrupt_injection.
    virtual SysResult<void> interrupt(unsigned vector) = 0;
    // What stopped the vCPU at a KVM_EXIT_INTERNAL_ERROR, where the accelerator knows more
    // than the suberror says.
    [[nodiscard]] virtual std::string internal_error() const { return {}; }

protected:
    kvm_run* run_ = nullptr;
};

struct MsrRange {
    std::uint32_t base;
    std::uint32_t count;
    bool read, write;   // which accesses exit to userspace
};

class Vm {
public:
    virtual ~Vm() = default;
    // Map [gpa, gpa+size) to host memory at hva; size 0 deletes the slot. flags:
    // KVM_MEM_LOG_DIRTY_PAGES. When it returns, no vCPU uses the slot's old mapping.
    virtual SysResult<void> set_memslot(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                                        void* hva, std::uint32_t flags = 0) = 0;
    // Exit to userspace on accesses to the listed MSRs (KVM_X86_SET_MSR_FILTER, default allow).
    virtual SysResult<void> set_msr_filter(std::span<MsrRange const> ranges) = 0;
    // Fetch-and-clear the dirty bitmap of a slot; one bit per page.
    virtual SysResult<void> get_dirty_log(std::uint32_t slot, std::span<std::uint64_t> bitmap) = 0;
    virtual SysResult<std::unique_ptr<Vcpu>> create_vcpu(unsigned id) = 0;
};

class Accel {
public:
    virtual ~Accel() = default;
    [[nodiscard]] virtual char const* name() const = 0;   // "kvm", "soft"
    // The CPUID leaves a vCPU may expose (KVM_GET_SUPPORTED_CPUID), the base of its table.
    [[nodiscard]] virtual std::vector<kvm_cpuid_entry2> const& supported_cpuid() const = 0;
    // The guest TSC's rate (the host's: guest TSC = host TSC on both).
    [[nodiscard]] virtual std::uint64_t tsc_khz() const = 0;
    // vmcall/vmmcall come out as KVM_EXIT_XEN hypercalls (KVM_CAP_XEN_HVM's intercept).
    [[nodiscard]] virtual bool xen_hcall_exits() const = 0;
    virtual SysResult<std::unique_ptr<Vm>> create_vm() = 0;
};

enum class Kind { automatic, kvm, soft };

// auto: KVM when /dev/kvm opens and creates a VM, else the software vCPU. `why` says which
// was chosen and why, for the log.
SysResult<std::unique_ptr<Accel>> open(Kind kind, std::string& why);
SysResult<std::unique_ptr<Accel>> open_kvm();
SysResult<std::unique_ptr<Accel>> open_soft();

} // namespace kxen::accel
