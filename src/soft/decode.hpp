// The decoder's full answer, for emulate(): whether more bytes would help.
#pragma once
#include "soft/emulate.hpp"

namespace kxen::soft {

enum class DecodeStatus { ok, truncated, too_long };

DecodeStatus decode_into(std::span<const std::uint8_t> bytes, bool long64, bool default32, Decoded& out);

} // namespace kxen::soft
