// KVM ioctl numbers for structs that end in a flexible array.
//
// linux/kvm.h declares those arrays with __DECLARE_FLEX_ARRAY, which in C++ adds an empty
// struct member (size 1, not 0). The struct then has a different sizeof than in C, the size
// encoded in the _IOW/_IOWR number changes with it, and KVM answers EINVAL. These use the C
// sizes; each is checked against the header's own number where C and C++ agree.
#pragma once
#include <linux/kvm.h>

namespace kxen::kvm::ioctl_nr {

inline constexpr unsigned long get_supported_cpuid = _IOWR(KVMIO, 0x05, char[8]);   // kvm_cpuid2
inline constexpr unsigned long set_cpuid2 = _IOW(KVMIO, 0x90, char[8]);             // kvm_cpuid2
inline constexpr unsigned long get_msrs = _IOWR(KVMIO, 0x88, char[8]);              // kvm_msrs
inline constexpr unsigned long set_msrs = _IOW(KVMIO, 0x89, char[8]);               // kvm_msrs
inline constexpr unsigned long get_xsave = _IOR(KVMIO, 0xa4, char[4096]);           // kvm_xsave
inline constexpr unsigned long set_xsave = _IOW(KVMIO, 0xa5, char[4096]);           // kvm_xsave

// The C layout of those headers; the entries follow at offset 8. (C++ moves `entries`.)
struct Cpuid2Header {
    __u32 nent;
    __u32 padding;
};
struct MsrsHeader {
    __u32 nmsrs;
    __u32 pad;
};
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);
static_assert(offsetof(kvm_xsave, region) == 0 && sizeof(kvm_xsave::region) == 4096);

} // namespace kxen::kvm::ioctl_nr
