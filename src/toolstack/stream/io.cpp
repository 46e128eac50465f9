#include "toolstack/stream/io.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <unistd.h>

namespace kxen::toolstack::stream {

ByteSink fd_sink(int fd) {
    return [fd](std::span<std::byte const> bytes) -> std::expected<void, std::string> {
        while (!bytes.empty()) {
            ssize_t n = ::write(fd, bytes.data(), bytes.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                return std::unexpected(fmt::format("write: {}", std::strerror(errno)));
            }
            bytes = bytes.subspan(std::size_t(n));
        }
        return {};
    };
}

ByteSink vector_sink(std::vector<std::byte>& out) {
    return [&out](std::span<std::byte const> bytes) -> std::expected<void, std::string> {
        out.insert(out.end(), bytes.begin(), bytes.end());
        return {};
    };
}

std::expected<std::size_t, std::string> MemorySource::read(std::span<std::byte> buf) {
    std::size_t n = std::min(buf.size(), data_.size() - pos_);
    if (n == 0) return 0;   // an empty span's data() may be null, which memcpy must not see
    std::memcpy(buf.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
}

std::expected<std::size_t, std::string> FdSource::read(std::span<std::byte> buf) {
    for (;;) {
        ssize_t n = ::read(fd_, buf.data(), buf.size());
        if (n >= 0) return std::size_t(n);
        if (errno != EINTR) return std::unexpected(fmt::format("read: {}", std::strerror(errno)));
    }
}

std::expected<void, std::string> StreamOutput::write(std::span<std::byte const> bytes) {
    auto r = sink_(bytes);
    if (!r) return r;
    offset_ += bytes.size();
    return {};
}

std::expected<void, std::string> StreamInput::read_exact(std::span<std::byte> buf) {
    std::size_t got = 0;
    while (got < buf.size()) {
        auto n = src_->read(buf.subspan(got));
        if (!n) return std::unexpected(n.error());
        if (*n == 0)
            return std::unexpected(fmt::format("truncated: stream ends after {} of {} bytes", got, buf.size()));
        got += *n;
        offset_ += *n;
    }
    return {};
}

std::expected<std::vector<std::byte>, std::string> StreamInput::read_vector(std::size_t n) {
    constexpr std::size_t chunk = 1 << 20;
    std::vector<std::byte> out;
    out.reserve(std::min(n, chunk));
    while (out.size() < n) {
        std::size_t at = out.size();
        std::size_t want = std::min(chunk, n - at);
        out.resize(at + want);
        std::size_t got = 0;
        while (got < want) {
            auto r = src_->read(std::span{out}.subspan(at + got, want - got));
            if (!r) return std::unexpected(r.error());
            if (*r == 0)
                return std::unexpected(fmt::format("truncated: stream ends after {} of {} bytes", at + got, n));
            got += *r;
            offset_ += *r;
        }
    }
    return out;
}

std::expected<void, std::string> StreamInput::skip(std::uint64_t n) {
    std::byte buf[4096];
    std::uint64_t left = n;
    while (left > 0) {
        std::size_t want = std::size_t(std::min<std::uint64_t>(left, sizeof buf));
        auto r = read_exact(std::span{buf, want});
        if (!r) return std::unexpected(fmt::format("truncated: stream ends after {} of {} bytes",
                                                   n - left, n));
        left -= want;
    }
    return {};
}

std::expected<bool, std::string> StreamInput::at_end() {
    std::byte b[1];
    auto n = src_->read(b);
    if (!n) return std::unexpected(n.error());
    offset_ += *n;
    return *n == 0;
}

} // namespace kxen::toolstack::stream
