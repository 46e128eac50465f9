// A whole string as a number (std::from_chars): nullopt if it is absent, empty, or has
// anything after the digits. For values read from the store, where "12x" is not 12.
#pragma once
#include <charconv>
#include <optional>
#include <string>

namespace kxen {

template <typename T> std::optional<T> parse_number(std::optional<std::string> const& s) {
    if (!s) return std::nullopt;
    T v{};
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (ec != std::errc{} || p != s->data() + s->size()) return std::nullopt;
    return v;
}

} // namespace kxen
