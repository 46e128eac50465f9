// A xenctl_bitmap of pCPUs filled in for the caller: kxend has no affinity or pools to speak
// of, so every map it reports holds all pCPUs (cpupool 0's, a vCPU's hard and soft affinity).
#pragma once
#include <cstdint>
#include <vector>
#include <xen/xen.h>
#include "hv/hypercall/guest_access.hpp"

namespace kxen::hv {

inline bool write_all_cpus(GuestAccess& mem, xenctl_bitmap const& m, unsigned pcpus) {
    std::vector<std::uint8_t> bits((m.nr_bits + 7) / 8, 0);
    for (unsigned p = 0; p < pcpus && p < m.nr_bits; ++p) bits[p / 8] |= static_cast<std::uint8_t>(1u << (p % 8));
    return bits.empty() || mem.write(handle_addr(m.bitmap), bits.data(), bits.size());
}

} // namespace kxen::hv
