#include "kvm/system.hpp"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <cstdlib>

namespace kxen::kvm {

SysResult<System> System::open(char const* path) {
    UniqueFd fd{::open(path, O_RDWR | O_CLOEXEC)};
    if (!fd) return sys_fail(std::string("open ") + path);
    int version = ::ioctl(fd.raw(), KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION)
        return sys_fail(0, "KVM_GET_API_VERSION: unexpected version " + std::to_string(version));
    int run_size = ::ioctl(fd.raw(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) return sys_fail("KVM_GET_VCPU_MMAP_SIZE");

    // KVM fails with E2BIG until the buffer is large enough; grow until it fits.
    std::vector<kvm_cpuid_entry2> entries;
    for (unsigned n = 64; n <= 4096; n *= 2) {
        auto buf = std::make_unique<std::byte[]>(sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2));
        // SAFETY: buf is sized for the header plus n entries; kvm_cpuid2 has a flexible array.
        auto* c = reinterpret_cast<kvm_cpuid2*>(buf.get());
        c->nent = n;
        if (::ioctl(fd.raw(), KVM_GET_SUPPORTED_CPUID, c) == 0) {
            entries.assign(c->entries, c->entries + c->nent);
            break;
        }
        if (errno != E2BIG) return sys_fail("KVM_GET_SUPPORTED_CPUID");
    }
    return System{std::move(fd), static_cast<std::size_t>(run_size), std::move(entries)};
}

int System::check_extension(long cap) const {
    int r = ::ioctl(fd_.raw(), KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

} // namespace kxen::kvm
