// kxen::hv::pvclock: Xen system time (ns since kxend started) and the vcpu_time_info a guest
// extrapolates it from with its TSC. The guest TSC is the host TSC (kxend sets each vCPU's TSC
// offset to 0), because ring-3 rdtsc here runs natively and would not see an offset.
#pragma once
#include <cstdint>
#include <xen/xen.h>

namespace kxen::hv::pvclock {

struct Scale {
    std::uint32_t mul_frac;
    std::int8_t shift;
};

// Xen's set_time_scale(): ns = ((tsc << shift) * mul_frac) >> 32 (right shift when negative).
Scale scale_for(std::uint64_t tsc_hz);
std::uint64_t scale_delta(std::uint64_t delta, Scale s);

class Clock {
public:
    explicit Clock(std::uint64_t tsc_khz);
    [[nodiscard]] std::uint64_t system_time() const;           // Xen NOW()
    // Saturating: a guest may name any 64-bit time, and "far future" must stay far future.
    [[nodiscard]] std::uint64_t to_monotonic(std::uint64_t system_ns) const {
        return system_ns > ~0ull - boot_mono_ ? ~0ull : system_ns + boot_mono_;
    }
    // Rewrite one vcpu_time_info in guest memory with the version protocol (odd while updating).
    void update(vcpu_time_info volatile& t) const;
    [[nodiscard]] std::uint64_t tsc_khz() const { return tsc_khz_; }

private:
    std::uint64_t tsc_khz_;
    Scale scale_;
    std::uint64_t boot_mono_;
};

} // namespace kxen::hv::pvclock
