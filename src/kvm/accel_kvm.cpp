// The KVM accelerator: accel::Accel over /dev/kvm (kvm::System, VmFd, VcpuFd).
#include <sys/ioctl.h>
#include <cstring>
#include "accel/accel.hpp"
#include "common/log.hpp"
#include "kvm/system.hpp"
#include "kvm/vcpu_fd.hpp"
#include "kvm/vm_fd.hpp"

namespace kxen::accel {
namespace {

class KvmVcpu final : public Vcpu {
public:
    explicit KvmVcpu(kvm::VcpuFd fd) : fd_{std::move(fd)} { run_ = &fd_.run_state(); }
    SysResult<bool> run() override { return fd_.run(); }
    void request_exit() override { fd_.request_exit(); }
    SysResult<void> complete_pending() override { return fd_.complete_pending(); }
    SysResult<kvm_sregs> get_sregs() override { return fd_.get_sregs(); }
    SysResult<void> set_sregs(kvm_sregs const& s) override { return fd_.set_sregs(s); }
    SysResult<kvm_fpu> get_fpu() override { return fd_.get_fpu(); }
    SysResult<void> set_fpu(kvm_fpu const& f) override { return fd_.set_fpu(f); }
    SysResult<void> get_xsave(kvm_xsave& out) override { return fd_.get_xsave(out); }
    SysResult<void> set_xsave(kvm_xsave const& x) override { return fd_.set_xsave(x); }
    SysResult<kvm_xcrs> get_xcrs() override { return fd_.get_xcrs(); }
    SysResult<std::uint64_t> get_msr(std::uint32_t index) override { return fd_.get_msr(index); }
    SysResult<void> set_msr(std::uint32_t index, std::uint64_t value) override { return fd_.set_msr(index, value); }
    SysResult<void> set_cpuid(std::span<kvm_cpuid_entry2 const> e) override { return fd_.set_cpuid(e); }
    SysResult<void> interrupt(unsigned vector) override { return fd_.interrupt(vector); }

private:
    kvm::VcpuFd fd_;
};

class KvmVm final : public Vm {
public:
    explicit KvmVm(kvm::VmFd vm) : vm_{std::move(vm)} {}
    SysResult<void> set_memslot(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size, void* hva,
                                std::uint32_t flags) override {
        return vm_.set_memslot(slot, gpa, size, hva, flags);
    }
    SysResult<void> set_msr_filter(std::span<MsrRange const> ranges) override {
        std::vector<kvm::MsrRange> r;
        for (auto const& m : ranges) r.push_back({m.base, m.count, m.read, m.write});
        return vm_.set_msr_filter(r);
    }
    SysResult<void> get_dirty_log(std::uint32_t slot, std::span<std::uint64_t> bitmap) override {
        return vm_.get_dirty_log(slot, bitmap);
    }
    SysResult<std::unique_ptr<Vcpu>> create_vcpu(unsigned id) override {
        auto fd = kvm::VcpuFd::create(vm_, id);
        if (!fd) return std::unexpected(fd.error());
        // Guest TSC = host TSC: on kvm_pvm hosts ring-3 rdtsc runs natively and cannot see an
        // offset (DESIGN-NOTES.md).
        kvm_device_attr attr{};
        std::uint64_t zero = 0;
        attr.group = KVM_VCPU_TSC_CTRL;
        attr.attr = KVM_VCPU_TSC_OFFSET;
        attr.addr = reinterpret_cast<std::uint64_t>(&zero);
        if (::ioctl(fd->raw(), KVM_SET_DEVICE_ATTR, &attr) < 0)
            log::warn("vCPU {}: KVM_VCPU_TSC_OFFSET: {}", id, std::strerror(errno));
        return std::make_unique<KvmVcpu>(std::move(*fd));
    }

private:
    kvm::VmFd vm_;
};

class KvmAccel final : public Accel {
public:
    KvmAccel(kvm::System sys, std::uint64_t khz) : sys_{std::move(sys)}, khz_{khz} {}
    char const* name() const override { return "kvm"; }
    std::vector<kvm_cpuid_entry2> const& supported_cpuid() const override { return sys_.supported_cpuid(); }
    std::uint64_t tsc_khz() const override { return khz_; }
    bool xen_hcall_exits() const override { return false; }
    SysResult<std::unique_ptr<Vm>> create_vm() override {
        auto vm = kvm::VmFd::create(sys_);
        if (!vm) return std::unexpected(vm.error());
        // Filtered MSRs (the hypercall page's) must reach userspace, and emulation failures
        // must come with the instruction bytes (kxend's fallback emulator).
        if (auto r = vm->enable_cap(KVM_CAP_X86_USER_SPACE_MSR, KVM_MSR_EXIT_REASON_FILTER); !r)
            return std::unexpected(r.error());
        (void)vm->enable_cap(KVM_CAP_EXIT_ON_EMULATION_FAILURE, 1);
        return std::make_unique<KvmVm>(std::move(*vm));
    }

private:
    kvm::System sys_;
    std::uint64_t khz_;
};

} // namespace

SysResult<std::unique_ptr<Accel>> open_kvm() {
    auto sys = kvm::System::open();
    if (!sys) return std::unexpected(sys.error());
    for (auto [cap, what] : {std::pair{KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"},
                             {KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR"},
                             {KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER"},
                             {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"}})
        if (!sys->check_extension(cap))
            return sys_fail(ENOTSUP, std::string("host KVM lacks ") + what);
    // KVM_GET_TSC_KHZ is a vCPU ioctl; a throwaway VM tells us the host's rate (and that this
    // KVM can create VMs at all).
    auto vm = kvm::VmFd::create(*sys);
    if (!vm) return std::unexpected(vm.error());
    UniqueFd vcpu{::ioctl(vm->raw(), KVM_CREATE_VCPU, 0)};
    int khz = vcpu ? ::ioctl(vcpu.raw(), KVM_GET_TSC_KHZ, 0) : -1;
    if (khz <= 0) return sys_fail("KVM_GET_TSC_KHZ");
    if (!sys->check_extension(KVM_CAP_XEN_HVM))
        log::info("host KVM has no KVM_CAP_XEN_HVM: hypercalls go through the port-I/O stub page; "
                  "guests that issue vmcall themselves cannot run here");
    return std::make_unique<KvmAccel>(std::move(*sys), static_cast<std::uint64_t>(khz));
}

} // namespace kxen::accel
