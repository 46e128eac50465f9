#include "time.hpp"

#include "cmdline.hpp"
#include "shared_info.hpp"
#include "sys.hpp"
#include "xen.hpp"

namespace minios::time {
namespace {

// KVM's pvclock record has the same layout as Xen's vcpu_time_info.
alignas(64) constinit vcpu_time_info kvmclock{};
constinit const volatile vcpu_time_info* clock = nullptr;
constinit uint64_t tsc_khz = 0;
constinit const char* name = "tsc";
// Added to the pvclock reading: non-zero only after a resume where the clock went back.
constinit uint64_t offset = 0;
constinit uint64_t at_suspend = 0;

constexpr uint32_t kMsrKvmSystemTimeNew = 0x4b564d01;
constexpr uint32_t kKvmFeatureClocksource2 = 1u << 3;

uint64_t kvmclock_ring0(uint64_t, uint64_t, uint64_t, uint64_t) {
    x86::wrmsr(kMsrKvmSystemTimeNew, uint64_t(&kvmclock) | 1);  // bit 0: enable
    return 0;
}

// Without any pvclock we only have the TSC; ask CPUID (ring 0, see xen.hpp) for its rate.
uint64_t tsc_khz_ring0(uint64_t, uint64_t, uint64_t, uint64_t) {
    uint32_t max = x86::cpuid(0).eax;
    if (max >= 0x15) {
        auto r = x86::cpuid(0x15);
        if (r.eax && r.ebx && r.ecx) return uint64_t(r.ecx) * r.ebx / r.eax / 1000;
    }
    if (max >= 0x16) {
        auto r = x86::cpuid(0x16);
        if (r.eax) return uint64_t(r.eax) * 1000;
    }
    return 1000000;  // unknown: assume 1 GHz
}

uint64_t pvclock_ns(const volatile vcpu_time_info* t) {
    uint32_t version;
    uint64_t ns;
    do {
        version = t->version;
        x86::barrier();
        uint64_t delta = x86::rdtsc() - t->tsc_timestamp;
        int8_t shift = t->tsc_shift;
        if (shift >= 0) delta <<= shift;
        else delta >>= -shift;
        ns = t->system_time + uint64_t((unsigned __int128)delta * t->tsc_to_system_mul >> 32);
        x86::barrier();
    } while ((version & 1) || version != t->version);
    return ns;
}

}  // namespace

void init() {
    if (xen::present()) {
        clock = &shared_info::get()->vcpu_info[0].time;
        name = "xen-pvclock";
    } else if (xen::info.kvm_base && (xen::info.kvm_features & kKvmFeatureClocksource2)) {
        sys::ring0(kvmclock_ring0);
        clock = &kvmclock;
        name = "kvmclock";
    } else if (!cmdline::get_u64("tsc_khz", 0, &tsc_khz) || !tsc_khz) {
        // QEMU TCG has neither pvclock nor CPUID leaf 0x15/0x16 and its TSC runs at the
        // host's rate, which only the host knows: `tsc_khz=` lets it say.
        tsc_khz = sys::ring0(tsc_khz_ring0);
    }
}

uint64_t now_ns() {
    if (clock) return pvclock_ns(clock) + offset;
    uint64_t tsc = x86::rdtsc();  // split so no 128-bit division (no libgcc here)
    return tsc / tsc_khz * 1'000'000 + tsc % tsc_khz * 1'000'000 / tsc_khz;
}

const char* source() { return name; }

uint64_t to_system(uint64_t ns) {
    // A deadline from before the jump may lie before the new clock's zero: it is past, and
    // 0 could read as "no timer".
    return ns > offset ? ns - offset : 1;
}

void suspending() { at_suspend = now_ns(); }

void resumed() {
    if (!clock) return;
    uint64_t raw = pvclock_ns(clock);
    if (raw + offset < at_suspend) offset = at_suspend - raw;
}

}  // namespace minios::time
