#include "kvm/vcpu_fd.hpp"
#include <sys/ioctl.h>
#include <memory>
#include <cstring>
#include <cstddef>
#include "kvm/ioctls.hpp"

namespace kxen::kvm {

SysResult<VcpuFd> VcpuFd::create(VmFd const& vm, unsigned id) {
    UniqueFd fd{::ioctl(vm.raw(), KVM_CREATE_VCPU, id)};
    if (!fd) return sys_fail("KVM_CREATE_VCPU " + std::to_string(id));
    auto page = Mapping::shared(fd.raw(), vm.system().run_size());
    if (!page) return std::unexpected(page.error());
    VcpuFd v{std::move(fd), std::move(*page)};
    // Every exit needs the GPRs (hypercall arguments); let KVM keep them in kvm_run.
    v.run_->kvm_valid_regs = KVM_SYNC_X86_REGS;
    return v;
}

SysResult<bool> VcpuFd::run() {
    if (::ioctl(fd_.raw(), KVM_RUN, 0) == 0) return true;
    if (errno == EINTR || errno == EAGAIN) {
        __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_RELEASE);
        return false;
    }
    return sys_fail("KVM_RUN");
}

SysResult<void> VcpuFd::complete_pending() const {
    __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_RELEASE);
    int r = ::ioctl(fd_.raw(), KVM_RUN, 0);
    int e = errno;
    __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_RELEASE);
    if (r < 0 && e != EINTR && e != EAGAIN) {
        errno = e;
        return sys_fail("KVM_RUN (complete)");
    }
    return {};
}

namespace {
template <typename T> SysResult<T> get(int fd, unsigned long req, char const* what) {
    T t{};
    if (::ioctl(fd, req, &t) < 0) return sys_fail(what);
    return t;
}
SysResult<void> put(int fd, unsigned long req, void const* p, char const* what) {
    if (::ioctl(fd, req, p) < 0) return sys_fail(what);
    return {};
}
// kvm_msrs ends in a flexible array: lay out the header and one entry by hand.
class OneMsr {
public:
    OneMsr(std::uint32_t index, std::uint64_t data) {
        // SAFETY: buf_ is aligned for and large enough to hold kvm_msrs plus one entry.
        auto* h = reinterpret_cast<ioctl_nr::MsrsHeader*>(buf_);
        h->nmsrs = 1;
        entry()->index = index;
        entry()->data = data;
    }
    void* raw() { return buf_; }
    kvm_msr_entry* entry() { return reinterpret_cast<kvm_msr_entry*>(buf_ + sizeof(ioctl_nr::MsrsHeader)); }

private:
    alignas(8) unsigned char buf_[sizeof(ioctl_nr::MsrsHeader) + sizeof(kvm_msr_entry)]{};
};
} // namespace

SysResult<kvm_sregs> VcpuFd::get_sregs() const { return get<kvm_sregs>(fd_.raw(), KVM_GET_SREGS, "KVM_GET_SREGS"); }
SysResult<void> VcpuFd::set_sregs(kvm_sregs const& s) const { return put(fd_.raw(), KVM_SET_SREGS, &s, "KVM_SET_SREGS"); }
SysResult<kvm_fpu> VcpuFd::get_fpu() const { return get<kvm_fpu>(fd_.raw(), KVM_GET_FPU, "KVM_GET_FPU"); }
SysResult<void> VcpuFd::set_fpu(kvm_fpu const& f) const { return put(fd_.raw(), KVM_SET_FPU, &f, "KVM_SET_FPU"); }
SysResult<void> VcpuFd::get_xsave(kvm_xsave& out) const { return put(fd_.raw(), ioctl_nr::get_xsave, &out, "KVM_GET_XSAVE"); }
SysResult<void> VcpuFd::set_xsave(kvm_xsave const& x) const { return put(fd_.raw(), ioctl_nr::set_xsave, &x, "KVM_SET_XSAVE"); }
SysResult<kvm_xcrs> VcpuFd::get_xcrs() const { return get<kvm_xcrs>(fd_.raw(), KVM_GET_XCRS, "KVM_GET_XCRS"); }

SysResult<std::uint64_t> VcpuFd::get_msr(std::uint32_t index) const {
    OneMsr m{index, 0};
    if (::ioctl(fd_.raw(), ioctl_nr::get_msrs, m.raw()) != 1) return sys_fail("KVM_GET_MSRS");
    return m.entry()->data;
}

SysResult<void> VcpuFd::set_msr(std::uint32_t index, std::uint64_t value) const {
    OneMsr m{index, value};
    if (::ioctl(fd_.raw(), ioctl_nr::set_msrs, m.raw()) != 1) return sys_fail("KVM_SET_MSRS");
    return {};
}

SysResult<void> VcpuFd::set_cpuid(std::span<kvm_cpuid_entry2 const> entries) const {
    std::vector<std::byte> buf(sizeof(ioctl_nr::Cpuid2Header) + entries.size_bytes());
    // SAFETY: buf holds the C layout of kvm_cpuid2 (see kvm/ioctls.hpp) with its entries.
    reinterpret_cast<ioctl_nr::Cpuid2Header*>(buf.data())->nent = static_cast<std::uint32_t>(entries.size());
    std::memcpy(buf.data() + sizeof(ioctl_nr::Cpuid2Header), entries.data(), entries.size_bytes());
    return put(fd_.raw(), ioctl_nr::set_cpuid2, buf.data(), "KVM_SET_CPUID2");
}

SysResult<void> VcpuFd::interrupt(unsigned vector) const {
    kvm_interrupt irq{vector};
    return put(fd_.raw(), KVM_INTERRUPT, &irq, "KVM_INTERRUPT");
}

} // namespace kxen::kvm
