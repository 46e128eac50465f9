#include "hv/time/pvclock.hpp"
#include <x86intrin.h>
#include "hv/sched/timer_service.hpp"

namespace kxen::hv::pvclock {

Scale scale_for(std::uint64_t tsc_hz) {
    std::uint64_t tps64 = tsc_hz;
    int shift = 0;
    while (tps64 > 2'000'000'000ull) {
        tps64 >>= 1;
        --shift;
    }
    auto tps32 = static_cast<std::uint32_t>(tps64);
    while (tps32 <= 1'000'000'000u) {
        tps32 <<= 1;
        ++shift;
    }
    auto mul = static_cast<std::uint32_t>((1'000'000'000ull << 32) / tps32);
    return {mul, static_cast<std::int8_t>(shift)};
}

std::uint64_t scale_delta(std::uint64_t delta, Scale s) {
    if (s.shift < 0) delta >>= -s.shift;
    else delta <<= s.shift;
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(delta) * s.mul_frac) >> 32);
}

Clock::Clock(std::uint64_t tsc_khz)
    : tsc_khz_{tsc_khz}, scale_{scale_for(tsc_khz * 1000)}, boot_mono_{monotonic_ns()} {}

std::uint64_t Clock::system_time() const { return monotonic_ns() - boot_mono_; }

void Clock::update(vcpu_time_info volatile& t) const {
    // Read both clocks back to back; the pair is the extrapolation base until the next update.
    std::uint64_t tsc = __rdtsc();
    std::uint64_t now = system_time();
    std::uint32_t v = t.version;
    t.version = (v + 1) | 1;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    t.tsc_timestamp = tsc;
    t.system_time = now;
    t.tsc_to_system_mul = scale_.mul_frac;
    t.tsc_shift = scale_.shift;
    t.flags = XEN_PVCLOCK_TSC_STABLE_BIT;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    t.version = (v + 2) & ~1u;
}

} // namespace kxen::hv::pvclock
