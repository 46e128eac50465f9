// Xen's CPUID policies (XEN_SYSCTL_get_cpu_policy, XEN_DOMCTL_get/set_cpu_policy) over the
// CPUID table kxend gives its guests (vcpu/cpuid.hpp). libxl reads a policy, adjusts it (the
// guest's topology, features the config turns off) and sets it before the domain first runs.
#pragma once
#include <cstdint>
#include <span>
#include <vector>
#include <linux/kvm.h>
#include <xen/xen.h>
#include "common/xen_err.hpp"

namespace kxen::hv {

class Domain;

// The leaves of `table` in Xen's serialised form, as many as Xen's libx86 holds (basic leaves
// to 0xd, subleaves of 4, 7, 0xb and 0xd, extended leaves to 0x80000021); the hypervisor
// leaves are not part of a policy.
std::vector<xen_cpuid_leaf_t> policy_leaves(std::vector<kvm_cpuid_entry2> const& table);

// The leaves replace the matching entries of every vCPU's table (each keeps its own APIC
// id). A feature bit kxend does not offer is refused with the leaf that asks for it, as Xen's
// audit against its max policy does; so is a domain that has run.
// What Xen reports as the most leaves and MSRs a policy may have (callers size buffers by it).
inline constexpr std::uint32_t max_policy_leaves = 256, max_policy_msrs = 8;

// Writes `leaves` to a caller's buffer of `nr` entries at `at` (a size query if at is 0):
// -ENOBUFS if it is too small, as Xen. nr comes back as the count.
class GuestAccess;
XenResult<void> copy_policy_out(GuestAccess& mem, std::vector<xen_cpuid_leaf_t> const& leaves, std::uint64_t at,
                                std::uint32_t& nr);

// Xen's featureset (public/arch-x86/cpufeatureset.h): the feature words of `table`, word i
// being the register its header names for word i (0: leaf 1 EDX, 1: leaf 1 ECX, ...).
std::vector<std::uint32_t> featureset(std::vector<kvm_cpuid_entry2> const& table);

XenResult<void> set_cpu_policy(Domain& d, std::span<xen_cpuid_leaf_t const> leaves, std::uint32_t& err_leaf,
                               std::uint32_t& err_subleaf);

} // namespace kxen::hv
