// The CPUID table a kxen guest sees: KVM's supported leaves plus Xen's hypervisor leaves
// (public/arch-x86/cpuid.h) at 0x40000000, where guests look for "XenVMMXenVMM".
#pragma once
#include <linux/kvm.h>
#include <vector>

namespace kxen::hv {

std::vector<kvm_cpuid_entry2> guest_cpuid(std::vector<kvm_cpuid_entry2> const& supported, unsigned vcpu_id);

inline constexpr unsigned hypercall_msr = 0x40000000;

} // namespace kxen::hv
