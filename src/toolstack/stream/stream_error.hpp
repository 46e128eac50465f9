// kxen::toolstack::stream::StreamError: why a migration stream could not be written or was
// refused. The message names the layer, the header or record, and the stream offset, e.g.
// "libxc PAGE_DATA record at offset 4096: count 3 does not match body length 40".
#pragma once
#include <fmt/format.h>

#include <cstdint>
#include <expected>
#include <string>

namespace kxen::toolstack::stream {

struct StreamError {
    std::string layer;         // "xl", "libxl", "libxc", "hvm context"
    std::string what;          // "image header", "PAGE_DATA record", ...
    std::uint64_t offset = 0;  // of the header or record in the whole stream
    std::string detail;

    [[nodiscard]] std::string message() const {
        return fmt::format("{} {} at offset {}: {}", layer, what, offset, detail);
    }
};

template <typename T> using StreamResult = std::expected<T, StreamError>;

template <typename... A>
std::unexpected<StreamError> stream_fail(std::string layer, std::string what, std::uint64_t offset,
                                         fmt::format_string<A...> f, A&&... a) {
    return std::unexpected(StreamError{std::move(layer), std::move(what), offset,
                                       fmt::format(f, std::forward<A>(a)...)});
}

} // namespace kxen::toolstack::stream
