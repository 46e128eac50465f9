#include "hv/vcpu/cpuid.hpp"
#include <algorithm>
#include <cstdint>
#include <xen/arch-x86/cpuid.h>

namespace kxen::hv {

std::vector<kvm_cpuid_entry2> guest_cpuid(std::vector<kvm_cpuid_entry2> const& supported, unsigned vcpu_id) {
    std::vector<kvm_cpuid_entry2> t;
    t.reserve(supported.size() + 6);
    // KVM's own paravirt leaves live in the same range; a Xen guest must find Xen's there.
    for (auto const& e : supported)
        if (e.function < 0x40000000 || e.function > 0x400000ff) t.push_back(e);
    for (auto& e : t) {
        if (e.function == 1) {
            e.ecx |= 1u << 31;                       // "running under a hypervisor"
            e.ebx = (e.ebx & 0x00ffffff) | (vcpu_id << 24);   // initial APIC id
        }
    }
    auto leaf = [&](std::uint32_t fn, std::uint32_t a, std::uint32_t b, std::uint32_t c, std::uint32_t d) {
        kvm_cpuid_entry2 e{};
        e.function = fn;
        e.eax = a; e.ebx = b; e.ecx = c; e.edx = d;
        t.push_back(e);
    };
    leaf(XEN_CPUID_LEAF(0), XEN_CPUID_LEAF(XEN_CPUID_MAX_NUM_LEAVES), XEN_CPUID_SIGNATURE_EBX,
         XEN_CPUID_SIGNATURE_ECX, XEN_CPUID_SIGNATURE_EDX);
    leaf(XEN_CPUID_LEAF(1), (4u << 16) | 17u, 0, 0, 0);         // Xen 4.17
    leaf(XEN_CPUID_LEAF(2), 1, hypercall_msr, 0, 0);            // 1 hypercall page, its MSR
    leaf(XEN_CPUID_LEAF(3), 0, 0, 0, 0);
    leaf(XEN_CPUID_LEAF(4), XEN_HVM_CPUID_VCPU_ID_PRESENT, vcpu_id, 0, 0);
    leaf(XEN_CPUID_LEAF(5), 0, 0, 0, 0);
    return t;
}

} // namespace kxen::hv
