// What the host CPU reports. kxend's guests run on the host's CPU model (KVM passes CPUID leaves
// 1, 7 and 0xd through on these hosts, DESIGN.md sec. 7), so the host's answers are the guest's.
#pragma once
#include <cstdint>
#include <optional>

namespace kxen::soft {

// MXCSR bits ldmxcsr/fxrstor/xrstor accept (FXSAVE's MXCSR_MASK): 0xffff on Intel, 0x2ffff on
// AMD parts with misaligned-SSE mode; a bit outside it is #GP.
std::uint32_t mxcsr_mask();

// Where XSAVE state component i (2..62) lives in the standard-format area: CPUID.(0xd,i).
struct XsaveComponent {
    std::uint32_t offset, size;
};
std::optional<XsaveComponent> xsave_component(unsigned i);

} // namespace kxen::soft
