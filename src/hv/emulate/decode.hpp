// The decoder's full answer, for emulate(): whether more bytes would help.
#pragma once
#include "hv/emulate/emulate.hpp"

namespace kxen::hv::emulate {

enum class DecodeStatus { ok, truncated, too_long };

DecodeStatus decode_into(std::span<const std::uint8_t> bytes, bool long64, bool default32, Decoded& out);

} // namespace kxen::hv::emulate
