// Reads a fuzzer's input as a sequence of fields. Past the end every field is zero or empty,
// so a harness never has to check lengths and short inputs still mean something.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace kxen::fuzz {

class Input {
public:
    Input(std::uint8_t const* data, std::size_t size) : p_{data}, n_{size} {}

    [[nodiscard]] bool empty() const { return n_ == 0; }
    [[nodiscard]] std::size_t left() const { return n_; }

    std::uint8_t u8() { return take_int<std::uint8_t>(); }
    std::uint16_t u16() { return take_int<std::uint16_t>(); }
    std::uint32_t u32() { return take_int<std::uint32_t>(); }
    std::uint64_t u64() { return take_int<std::uint64_t>(); }

    // Up to n bytes (fewer at the end).
    std::span<std::uint8_t const> bytes(std::size_t n) {
        n = std::min(n, n_);
        std::span<std::uint8_t const> out{p_, n};
        p_ += n;
        n_ -= n;
        return out;
    }
    std::string_view str(std::size_t n) {
        auto b = bytes(n);
        return {reinterpret_cast<char const*>(b.data()), b.size()};
    }
    // A length-prefixed piece: one byte of length, then that many bytes.
    std::string_view short_str() { return str(u8()); }
    std::string_view rest() { return str(n_); }

private:
    template <typename T> T take_int() {
        T v{};
        auto b = bytes(sizeof v);
        std::memcpy(&v, b.data(), b.size());
        return v;
    }
    std::uint8_t const* p_;
    std::size_t n_;
};

} // namespace kxen::fuzz
