#include "toolstack/xl_cfg_uuid.hpp"

#include <fmt/format.h>

#include <random>

namespace kxen::toolstack {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

} // namespace

std::optional<Uuid> Uuid::parse(std::string_view text) {
    // 36 characters: hyphens at 8, 13, 18 and 23, hex digits everywhere else.
    if (text.size() != 36) return std::nullopt;
    Uuid u;
    std::size_t byte = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return std::nullopt;
            ++i;
            continue;
        }
        int const hi = hex_value(text[i]);
        int const lo = hex_value(text[i + 1]);   // i + 1 < 36: digit pairs never straddle a hyphen
        if (hi < 0 || lo < 0) return std::nullopt;
        u.bytes[byte++] = static_cast<std::uint8_t>(hi << 4 | lo);
        i += 2;
    }
    return u;
}

Uuid Uuid::random_v4() {
    std::random_device rd;   // getrandom() on Linux: unpredictable, not a seeded PRNG
    Uuid u;
    for (std::size_t i = 0; i < u.bytes.size(); i += 4) {
        auto const r = rd();
        for (std::size_t j = 0; j < 4; ++j) u.bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
    }
    u.bytes[6] = static_cast<std::uint8_t>((u.bytes[6] & 0x0f) | 0x40);   // version 4
    u.bytes[8] = static_cast<std::uint8_t>((u.bytes[8] & 0x3f) | 0x80);   // RFC 4122 variant
    return u;
}

std::string Uuid::to_string() const {
    auto const& b = bytes;
    return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                       "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                       b[12], b[13], b[14], b[15]);
}

} // namespace kxen::toolstack
