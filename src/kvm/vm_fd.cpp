#include "kvm/vm_fd.hpp"
#include <sys/ioctl.h>
#include <array>
#include <vector>

namespace kxen::kvm {

SysResult<VmFd> VmFd::create(System const& sys) {
    int fd;
    // KVM_CREATE_VM can fail with EINTR while the kernel sets up the VM's MMU notifier; retry.
    do fd = ::ioctl(sys.raw(), KVM_CREATE_VM, 0);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return sys_fail("KVM_CREATE_VM");
    return VmFd{UniqueFd{fd}, sys};
}

SysResult<void> VmFd::set_memslot(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                                  void* hva, std::uint32_t flags) const {
    kvm_userspace_memory_region r{};
    r.slot = slot;
    r.flags = flags;
    r.guest_phys_addr = gpa;
    r.memory_size = size;
    r.userspace_addr = reinterpret_cast<std::uint64_t>(hva);
    if (::ioctl(fd_.raw(), KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return sys_fail("KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot));
    return {};
}

SysResult<void> VmFd::enable_cap(std::uint32_t cap, std::uint64_t arg0) const {
    kvm_enable_cap c{};
    c.cap = cap;
    c.args[0] = arg0;
    if (::ioctl(fd_.raw(), KVM_ENABLE_CAP, &c) < 0)
        return sys_fail("KVM_ENABLE_CAP " + std::to_string(cap));
    return {};
}

SysResult<void> VmFd::set_msr_filter(std::span<MsrRange const> ranges) const {
    if (ranges.size() > KVM_MSR_FILTER_MAX_RANGES) return sys_fail(E2BIG, "KVM_X86_SET_MSR_FILTER");
    // A range's bitmap bit 0 means "deny", i.e. exit to userspace (with KVM_MSR_EXIT_REASON_FILTER).
    std::vector<std::vector<std::uint8_t>> bitmaps;
    kvm_msr_filter f{};
    f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
    unsigned n = 0;
    for (auto const& r : ranges) {
        for (int pass = 0; pass < 2; ++pass) {
            bool deny = pass == 0 ? r.read : r.write;
            if (!deny) continue;
            auto& bm = bitmaps.emplace_back((r.count + 7) / 8, 0);
            f.ranges[n].flags = pass == 0 ? KVM_MSR_FILTER_READ : KVM_MSR_FILTER_WRITE;
            f.ranges[n].base = r.base;
            f.ranges[n].nmsrs = r.count;
            f.ranges[n].bitmap = bm.data();
            ++n;
            if (n > KVM_MSR_FILTER_MAX_RANGES) return sys_fail(E2BIG, "KVM_X86_SET_MSR_FILTER");
        }
    }
    if (::ioctl(fd_.raw(), KVM_X86_SET_MSR_FILTER, &f) < 0) return sys_fail("KVM_X86_SET_MSR_FILTER");
    return {};
}

SysResult<void> VmFd::get_dirty_log(std::uint32_t slot, std::span<std::uint64_t> bitmap) const {
    kvm_dirty_log d{};
    d.slot = slot;
    d.dirty_bitmap = bitmap.data();
    if (::ioctl(fd_.raw(), KVM_GET_DIRTY_LOG, &d) < 0) return sys_fail("KVM_GET_DIRTY_LOG");
    return {};
}

} // namespace kxen::kvm
