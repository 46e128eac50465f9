// The domain names kxend accepts. A name becomes a file name (the console log), a xenstore
// value and a column of `kxl list`, so it is kept to an alphabet safe in all three; kxl checks
// it when it reads a config, before it connects, with the same rule.
#pragma once
#include <algorithm>
#include <cstddef>
#include <string_view>

namespace kxen {

inline constexpr std::size_t domain_name_max = 64;

constexpr bool domain_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

constexpr bool valid_domain_name(std::string_view name) {
    return !name.empty() && name.size() <= domain_name_max &&
           std::all_of(name.begin(), name.end(), domain_name_char);
}

} // namespace kxen
