// kxen::kvm::VcpuFd: one KVM vCPU, its fd and its shared kvm_run page. Nothing Xen here.
#pragma once
#include <linux/kvm.h>
#include <cstdint>
#include <span>
#include <vector>
#include "common/mapping.hpp"
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"
#include "kvm/vm_fd.hpp"

namespace kxen::kvm {

class VcpuFd {
public:
    static SysResult<VcpuFd> create(VmFd const& vm, unsigned id);

    // One KVM_RUN. false (no error): the run was interrupted by a kick (EINTR/immediate_exit).
    SysResult<bool> run();
    // Make the current or next KVM_RUN return at once; safe from any thread together with a
    // signal to the thread that runs this vCPU.
    void request_exit() { __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_RELEASE); }

    [[nodiscard]] kvm_run& run_state() const { return *run_; }
    // The GPRs as of the last exit, kept in kvm_run by KVM_CAP_SYNC_REGS (no ioctl needed).
    [[nodiscard]] kvm_regs& regs() const { return run_->s.regs.regs; }
    // Say that regs() was changed and must be loaded on the next KVM_RUN.
    void regs_dirty() const { run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS; }

    // Finish the instruction of the last exit (port I/O, MMIO, MSR access) without running the
    // guest: until then the registers are not the guest's state after it (KVM's api.rst).
    SysResult<void> complete_pending() const;
    SysResult<kvm_sregs> get_sregs() const;
    SysResult<void> set_sregs(kvm_sregs const& s) const;
    SysResult<kvm_fpu> get_fpu() const;
    SysResult<void> set_fpu(kvm_fpu const& f) const;
    // kvm_xsave ends in a flexible array, so it cannot travel in a std::expected.
    SysResult<void> get_xsave(kvm_xsave& out) const;
    SysResult<void> set_xsave(kvm_xsave const& x) const;
    SysResult<kvm_xcrs> get_xcrs() const;
    SysResult<std::uint64_t> get_msr(std::uint32_t index) const;
    SysResult<void> set_msr(std::uint32_t index, std::uint64_t value) const;
    SysResult<void> set_cpuid(std::span<kvm_cpuid_entry2 const> entries) const;
    // Queue an external interrupt (no in-kernel irqchip): KVM delivers it on the next entry.
    SysResult<void> interrupt(unsigned vector) const;
    [[nodiscard]] int raw() const { return fd_.raw(); }

private:
    VcpuFd(UniqueFd fd, Mapping run)
        : fd_{std::move(fd)}, map_{std::move(run)}, run_{map_.as<kvm_run>()} {}
    UniqueFd fd_;     // declared first, so it is closed after map_ is unmapped
    Mapping map_;
    kvm_run* run_;
};

} // namespace kxen::kvm
