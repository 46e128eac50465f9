// kxen::kvm::VmFd: one KVM VM: memslots, MSR filter, capabilities, dirty log.
#pragma once
#include <linux/kvm.h>
#include <cstdint>
#include <span>
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"
#include "kvm/system.hpp"

namespace kxen::kvm {

struct MsrRange {
    std::uint32_t base;
    std::uint32_t count;
    bool read, write;   // which accesses exit to userspace
};

class VmFd {
public:
    static SysResult<VmFd> create(System const& sys);

    [[nodiscard]] int raw() const { return fd_.raw(); }
    [[nodiscard]] System const& system() const { return *sys_; }

    // Map [gpa, gpa+size) to host memory at hva. size 0 deletes the slot.
    SysResult<void> set_memslot(std::uint32_t slot, std::uint64_t gpa, std::uint64_t size,
                                void* hva, std::uint32_t flags = 0) const;
    SysResult<void> enable_cap(std::uint32_t cap, std::uint64_t arg0 = 0) const;
    // Exit to userspace on accesses to the listed MSRs (KVM_X86_SET_MSR_FILTER, default allow).
    SysResult<void> set_msr_filter(std::span<MsrRange const> ranges) const;
    // Fetch-and-clear the dirty bitmap of a slot; bitmap holds one bit per page.
    SysResult<void> get_dirty_log(std::uint32_t slot, std::span<std::uint64_t> bitmap) const;

private:
    VmFd(UniqueFd fd, System const& sys) : fd_{std::move(fd)}, sys_{&sys} {}
    UniqueFd fd_;
    System const* sys_;
};

} // namespace kxen::kvm
