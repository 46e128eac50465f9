// The CPU the software vCPU presents: CPUID leaves that advertise exactly what src/soft
// implements, in KVM_GET_SUPPORTED_CPUID's form.
#pragma once
#include <linux/kvm.h>
#include <vector>

namespace kxen::soft {

std::vector<kvm_cpuid_entry2> cpuid_model();

} // namespace kxen::soft
