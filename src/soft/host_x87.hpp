// x87 arithmetic done by the host's own FPU under the guest's control word. kxend runs on the
// same x86-64 CPU as the guest, so rounding (RC), precision (PC), NaN propagation, the C1
// rounding bit and every exception flag come out exactly as the guest's FPU would make them,
// with no soft-float. All exceptions are masked on the host; callers decide what an exception
// the guest left unmasked means.
#pragma once
#include <cstdint>

namespace kxen::soft {

struct F80 {   // an 80-bit extended value as the FXSAVE image stores it
    std::uint8_t b[10];
    constexpr bool operator==(F80 const&) const = default;
};

// The masked response to an invalid operation: the "real indefinite" QNaN.
inline constexpr F80 f80_indefinite{{0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff}};

namespace host_x87 {

enum class Fmt { f32, f64, i16, i32, i64 };
enum class Op { add, mul, sub, div };   // a op b
enum class Const { one, l2t, l2e, pi, lg2, ln2, zero };

// Each returns the host's FSW after the operation: flags in bits 0-5, C0-C3, C1 = rounded up.
std::uint16_t load(Fmt f, void const* src, F80& out, std::uint16_t fcw);
std::uint16_t store(Fmt f, F80 const& in, void* dst, std::uint16_t fcw, bool truncate = false);
std::uint16_t arith(Op op, F80 const& a, F80 const& b, F80& out, std::uint16_t fcw);
std::uint16_t compare(F80 const& a, F80 const& b, bool quiet, std::uint16_t fcw);   // a vs b
std::uint16_t constant(Const k, F80& out, std::uint16_t fcw);

} // namespace host_x87
} // namespace kxen::soft
