// A xenctl_bitmap of pCPUs filled in for the caller: kxend has no affinity or pools to speak
// of, so every map it reports holds all pCPUs (cpupool 0's, a vCPU's hard and soft affinity).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>
#include <xen/xen.h>
#include "hv/hypercall/guest_access.hpp"

namespace kxen::hv {

// As Xen's cpumask_to_xenctl_bitmap: the caller's nr_bits (any u32) says how many bytes its
// buffer has; the pCPUs' bits go first and the rest is cleared, a page at a time, so a huge
// nr_bits costs no allocation and stops at the first byte the caller cannot take.
inline bool write_all_cpus(GuestAccess& mem, xenctl_bitmap const& m, unsigned pcpus) {
    std::uint64_t const bytes = (std::uint64_t{m.nr_bits} + 7) / 8;
    std::vector<std::uint8_t> chunk(4096, 0);
    for (std::uint64_t off = 0; off < bytes; off += chunk.size()) {
        std::fill(chunk.begin(), chunk.end(), 0);
        for (std::uint64_t p = off * 8; p < pcpus && p < m.nr_bits && p < (off + chunk.size()) * 8; ++p)
            chunk[(p / 8) - off] |= static_cast<std::uint8_t>(1u << (p % 8));
        auto n = std::min<std::uint64_t>(chunk.size(), bytes - off);
        if (!mem.write(handle_addr(m.bitmap) + off, chunk.data(), n)) return false;
    }
    return true;
}

} // namespace kxen::hv
