// kxen::kvm::System: the /dev/kvm handle and what this host's KVM can do. Nothing Xen here.
#pragma once
#include <linux/kvm.h>
#include <memory>
#include <vector>
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace kxen::kvm {

class System {
public:
    static SysResult<System> open(char const* path = "/dev/kvm");

    [[nodiscard]] int raw() const { return fd_.raw(); }
    [[nodiscard]] int check_extension(long cap) const;
    [[nodiscard]] std::size_t run_size() const { return run_size_; }
    // The CPUID leaves KVM can expose (KVM_GET_SUPPORTED_CPUID), the base a vCPU's table starts from.
    [[nodiscard]] std::vector<kvm_cpuid_entry2> const& supported_cpuid() const { return cpuid_; }

private:
    System(UniqueFd fd, std::size_t run_size, std::vector<kvm_cpuid_entry2> cpuid)
        : fd_{std::move(fd)}, run_size_{run_size}, cpuid_{std::move(cpuid)} {}
    UniqueFd fd_;
    std::size_t run_size_;
    std::vector<kvm_cpuid_entry2> cpuid_;
};

} // namespace kxen::kvm
