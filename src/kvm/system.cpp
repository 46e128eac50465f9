#include "kvm/system.hpp"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <cstdlib>
#include <cstring>
#include <cstddef>
#include "kvm/ioctls.hpp"

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
    for (unsigned n = 256; n <= 4096; n *= 2) {   // KVM_MAX_CPUID_ENTRIES is 256 today
        std::vector<std::byte> buf(sizeof(ioctl_nr::Cpuid2Header) + n * sizeof(kvm_cpuid_entry2));
        // SAFETY: buf holds the C layout of kvm_cpuid2 (see kvm/ioctls.hpp) with n entries.
        auto* h = reinterpret_cast<ioctl_nr::Cpuid2Header*>(buf.data());
        h->nent = n;
        if (::ioctl(fd.raw(), ioctl_nr::get_supported_cpuid, buf.data()) == 0) {
            entries.resize(h->nent);
            std::memcpy(entries.data(), buf.data() + sizeof *h, h->nent * sizeof(kvm_cpuid_entry2));
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
