// The standard-format XSAVE area (SDM vol. 1, 13.4): its 512-byte legacy region (= the FXSAVE
// image), header and extended components, to and from CpuState. Used by fxsave/fxrstor,
// xsave/xrstor and the glue's KVM_GET/SET_XSAVE conversion.
#pragma once
#include "soft/emulate.hpp"

namespace kxen::soft {

namespace xfeature {
inline constexpr std::uint64_t x87 = 1, sse = 2, avx = 4;
}

// Which parts of the legacy region to move, and in which format.
struct LegacyParts {
    bool x87;          // FCW..FDP and ST0-7
    bool sse;          // XMM registers
    bool mxcsr;        // MXCSR and MXCSR_MASK
    bool fip64;        // 64-bit FIP/FDP (REX.W forms, KVM) rather than offset:selector
    unsigned nxmm;     // 16 in 64-bit mode, 8 otherwise
};

void put_legacy(CpuState const& s, std::uint8_t* area, LegacyParts p);   // area: 512 bytes
void get_legacy(CpuState& s, std::uint8_t const* area, LegacyParts p);  // MXCSR not validated
std::uint32_t legacy_mxcsr(std::uint8_t const* area);

// Init configurations (SDM vol. 1, 13.6), as xrstor and fninit-like resets set them.
void init_x87(CpuState& s);
void init_sse(CpuState& s, unsigned nxmm);   // XMM only; MXCSR is not part of it for xrstor

// XINUSE: components not in their init configuration. Saying "in use" for a component that
// happens to be in init state is always allowed, so this errs that way.
std::uint64_t xinuse(CpuState const& s);

} // namespace kxen::soft
