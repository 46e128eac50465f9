// minios::xen: is there a Xen underneath, and which one. Detection must run in
// ring 0: on our hosts ring-3 cpuid is not intercepted and would report whatever
// hypervisor runs the host itself.
#pragma once
#include <stdint.h>

namespace minios::xen {

struct Info {
    uint32_t cpuid_base;    // 0 when no Xen signature was found
    uint32_t cpuid_version; // base+1 eax: major << 16 | minor
    uint32_t msr;           // base+2 ebx: hypercall-page MSR
    uint32_t pages;         // base+2 eax
    uint32_t kvm_base;      // a KVM signature, used for kvmclock when there is no Xen
    uint32_t kvm_features;  // kvm_base+1 eax
};
extern constinit Info info;

inline bool present() { return info.cpuid_base != 0; }

// Ring 0, once, from kernel_init: scans CPUID 0x40000000..0x40010000 and, if Xen
// is there, installs the hypercall page.
void detect_ring0();

// "4.17.0" from XENVER_version + XENVER_extraversion.
void version_string(char* buf, unsigned cap);

// HVMOP_get_param for our own domain: 0 or a Xen errno.
long get_param(uint32_t index, uint64_t* value);

}  // namespace minios::xen
