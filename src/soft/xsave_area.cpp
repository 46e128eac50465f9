// Legacy-region layout (SDM vol. 1, table 10-2): 0 FCW, 2 FSW, 4 abridged FTW, 6 FOP, 8 FIP,
// 16 FDP, 24 MXCSR, 28 MXCSR_MASK, 32 ST0-7 (16 bytes each, stack order), 160 XMM0-15.
#include "soft/xsave_area.hpp"
#include <algorithm>
#include <cstring>
#include "soft/host_cpu.hpp"

namespace kxen::soft {
namespace {

template <typename T> void put(std::uint8_t* p, T v) { std::memcpy(p, &v, sizeof v); }
template <typename T> T get(std::uint8_t const* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

} // namespace

void put_legacy(CpuState const& s, std::uint8_t* area, LegacyParts p) {
    if (p.x87) {
        put(area + 0, s.fcw);
        put(area + 2, s.fsw);
        area[4] = s.ftwx;
        area[5] = 0;
        put(area + 6, s.fop);
        if (p.fip64) {
            put(area + 8, s.fip);
            put(area + 16, s.fdp);
        } else {   // offset plus a selector kxen does not track (FCS/FDS are deprecated anyway)
            put<std::uint64_t>(area + 8, s.fip & 0xffffffff);
            put<std::uint64_t>(area + 16, s.fdp & 0xffffffff);
        }
        for (unsigned i = 0; i < 8; ++i) {
            std::memcpy(area + 32 + 16 * i, s.fpr[i], 10);
            std::memset(area + 32 + 16 * i + 10, 0, 6);
        }
    }
    if (p.mxcsr) {
        put(area + 24, s.mxcsr);
        put(area + 28, mxcsr_mask());
    }
    if (p.sse) std::memcpy(area + 160, s.xmm, 16 * p.nxmm);
}

void get_legacy(CpuState& s, std::uint8_t const* area, LegacyParts p) {
    if (p.x87) {
        s.fcw = get<std::uint16_t>(area + 0);
        s.fsw = get<std::uint16_t>(area + 2);
        s.ftwx = area[4];
        s.fop = get<std::uint16_t>(area + 6) & 0x7ff;
        s.fip = get<std::uint64_t>(area + 8);
        s.fdp = get<std::uint64_t>(area + 16);
        if (!p.fip64) {
            s.fip &= 0xffffffff;
            s.fdp &= 0xffffffff;
        }
        for (unsigned i = 0; i < 8; ++i) {
            std::memcpy(s.fpr[i], area + 32 + 16 * i, 10);
            std::memset(s.fpr[i] + 10, 0, 6);
        }
    }
    if (p.mxcsr) s.mxcsr = legacy_mxcsr(area);
    if (p.sse) std::memcpy(s.xmm, area + 160, 16 * p.nxmm);
}

std::uint32_t legacy_mxcsr(std::uint8_t const* area) { return get<std::uint32_t>(area + 24); }

void init_x87(CpuState& s) {
    s.fcw = 0x037f;
    s.fsw = 0;
    s.ftwx = 0;
    s.fop = 0;
    s.fip = s.fdp = 0;
    std::memset(s.fpr, 0, sizeof s.fpr);
}

void init_sse(CpuState& s, unsigned nxmm) { std::fill_n(s.xmm, nxmm, Xmm{0, 0}); }

std::uint64_t xinuse(CpuState const& s) {
    CpuState init{};
    init_x87(init);
    bool const x87 = s.fcw != init.fcw || s.fsw || s.ftwx || s.fop || s.fip || s.fdp ||
                     std::memcmp(s.fpr, init.fpr, sizeof s.fpr) != 0;
    bool const sse = s.mxcsr != 0x1f80 || std::any_of(std::begin(s.xmm), std::end(s.xmm),
                                                      [](Xmm x) { return x.lo || x.hi; });
    return (x87 ? xfeature::x87 : 0) | (sse ? xfeature::sse : 0) | (s.xsave_ext_bv & ~3ull);
}

// The glue's conversion. KVM's region is the standard format with 64-bit FIP/FDP; components
// whose XSTATE_BV bit is clear are kept zeroed here so xsave writes their init values.
void from_kvm_xsave(std::span<const std::uint8_t> region, CpuState& s) {
    if (region.size() < kvm_xsave_size) return;
    LegacyParts const all{true, true, true, true, 16};
    get_legacy(s, region.data(), all);
    std::uint64_t const bv = get<std::uint64_t>(region.data() + xsave_legacy_size);
    s.xsave_ext_bv = bv & ~3ull;
    std::memcpy(s.xsave_ext.data(), region.data() + xsave_ext_offset, s.xsave_ext.size());
    for (unsigned i = 2; i < 63; ++i) {
        auto c = xsave_component(i);
        if (!c || (bv >> i) & 1 || c->offset < xsave_ext_offset || c->offset + c->size > kvm_xsave_size) continue;
        std::memset(s.xsave_ext.data() + (c->offset - xsave_ext_offset), 0, c->size);
    }
}

void to_kvm_xsave(CpuState const& s, std::span<std::uint8_t> region) {
    if (region.size() < kvm_xsave_size) return;
    LegacyParts const all{true, true, true, true, 16};
    put_legacy(s, region.data(), all);
    // x87 and SSE are always given explicitly; KVM initializes components whose bit is clear.
    std::uint8_t* const hdr = region.data() + xsave_legacy_size;
    put(hdr, (s.xsave_ext_bv & ~3ull) | xfeature::x87 | xfeature::sse);
    std::memcpy(region.data() + xsave_ext_offset, s.xsave_ext.data(), s.xsave_ext.size());
}

} // namespace kxen::soft
