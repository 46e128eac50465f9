// kxen::toolstack::Uuid: a domain's UUID (xl.cfg `uuid`), in the byte order of its text
// form, which is also the order of Xen's xen_domain_handle_t (uint8_t[16]).
#pragma once
#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kxen::toolstack {

struct Uuid {
    std::array<std::uint8_t, 16> bytes{};

    // The 8-4-4-4-12 hex form (either case), as libxl_uuid_from_string accepts it.
    static std::optional<Uuid> parse(std::string_view text);
    // A random (version 4, RFC 4122 variant) UUID, as libxl makes when the config has none.
    static Uuid random_v4();
    // Lower-case 8-4-4-4-12.
    [[nodiscard]] std::string to_string() const;

    auto operator<=>(Uuid const&) const = default;
};

} // namespace kxen::toolstack
