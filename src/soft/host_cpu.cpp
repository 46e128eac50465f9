// Host CPU queries, each made once.
#include "soft/host_cpu.hpp"
#include <array>
#include <cpuid.h>
#include <cstring>

namespace kxen::soft {

std::uint32_t mxcsr_mask() {
    static std::uint32_t const mask = [] {
        alignas(16) std::uint8_t area[512] = {};
        asm volatile("fxsave %0" : "=m"(area));
        std::uint32_t m;
        std::memcpy(&m, area + 28, sizeof m);
        return m ? m : 0xffbfu;   // 0 means the pre-DAZ default (SDM vol. 1, 11.6.6)
    }();
    return mask;
}

std::optional<XsaveComponent> xsave_component(unsigned i) {
    static auto const table = [] {
        std::array<XsaveComponent, 63> t{};
        unsigned a, b, c, d;
        if (__get_cpuid_max(0, nullptr) < 0xd) return t;
        for (unsigned k = 2; k < t.size(); ++k) {
            __cpuid_count(0xd, k, a, b, c, d);
            if (!(c & 1)) t[k] = {b, a};   // ECX bit 0: supervisor (IA32_XSS) state, no fixed offset
        }
        return t;
    }();
    if (i < 2 || i >= table.size() || table[i].size == 0) return std::nullopt;
    return table[i];
}

} // namespace kxen::soft
