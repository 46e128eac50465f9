// Byte sinks and sources under the stream writers and readers, and the little-endian field
// helpers both use. A stream is written to a ByteSink and read from a ByteSource; StreamOutput
// and StreamInput count the bytes so that errors can name the offset of a record.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace kxen::toolstack::stream {

// Takes all of the bytes or fails with a reason ("write: No space left on device").
using ByteSink = std::function<std::expected<void, std::string>(std::span<std::byte const>)>;

// Writes to a file descriptor (a save file, a socket or a pipe), retrying short writes.
ByteSink fd_sink(int fd);
// Appends to a vector, which must outlive the sink.
ByteSink vector_sink(std::vector<std::byte>& out);

class ByteSource {
public:
    virtual ~ByteSource() = default;
    // Reads up to buf.size() bytes; 0 only at the end of the stream.
    virtual std::expected<std::size_t, std::string> read(std::span<std::byte> buf) = 0;
};

class MemorySource final : public ByteSource {
public:
    explicit MemorySource(std::span<std::byte const> data) : data_{data} {}
    std::expected<std::size_t, std::string> read(std::span<std::byte> buf) override;

private:
    std::span<std::byte const> data_;
    std::size_t pos_ = 0;
};

// Reads a file descriptor; does not own it.
class FdSource final : public ByteSource {
public:
    explicit FdSource(int fd) : fd_{fd} {}
    std::expected<std::size_t, std::string> read(std::span<std::byte> buf) override;

private:
    int fd_;
};

// A sink and the number of bytes written to it so far.
class StreamOutput {
public:
    explicit StreamOutput(ByteSink sink, std::uint64_t start_offset = 0)
        : sink_{std::move(sink)}, offset_{start_offset} {}
    std::expected<void, std::string> write(std::span<std::byte const> bytes);
    [[nodiscard]] std::uint64_t offset() const { return offset_; }

private:
    ByteSink sink_;
    std::uint64_t offset_;
};

// A source and the number of bytes consumed from it so far.
class StreamInput {
public:
    explicit StreamInput(ByteSource& src, std::uint64_t start_offset = 0)
        : src_{&src}, offset_{start_offset} {}
    // Fills buf or fails: "truncated: N of M bytes" at the end of the stream.
    std::expected<void, std::string> read_exact(std::span<std::byte> buf);
    // Reads n bytes into a vector grown as the data arrives, so that a length claimed by a
    // truncated stream never costs more memory than the bytes actually present.
    std::expected<std::vector<std::byte>, std::string> read_vector(std::size_t n);
    // Reads and drops n bytes.
    std::expected<void, std::string> skip(std::uint64_t n);
    // True when no byte follows (consumes one byte otherwise, so only for a final check).
    std::expected<bool, std::string> at_end();
    [[nodiscard]] std::uint64_t offset() const { return offset_; }

private:
    ByteSource* src_;
    std::uint64_t offset_;
};

// Little-endian and big-endian fields in a byte buffer. The streams are little-endian, apart
// from the libxc image header and the libxl stream header (big-endian).
inline std::uint64_t get_le(std::span<std::byte const> b, std::size_t off, std::size_t width) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i)
        v |= std::uint64_t(std::to_integer<std::uint8_t>(b[off + i])) << (8 * i);
    return v;
}
inline std::uint16_t le16(std::span<std::byte const> b, std::size_t off) { return std::uint16_t(get_le(b, off, 2)); }
inline std::uint32_t le32(std::span<std::byte const> b, std::size_t off) { return std::uint32_t(get_le(b, off, 4)); }
inline std::uint64_t le64(std::span<std::byte const> b, std::size_t off) { return get_le(b, off, 8); }
inline std::uint64_t get_be(std::span<std::byte const> b, std::size_t off, std::size_t width) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i) v = (v << 8) | std::to_integer<std::uint8_t>(b[off + i]);
    return v;
}
inline std::uint16_t be16(std::span<std::byte const> b, std::size_t off) { return std::uint16_t(get_be(b, off, 2)); }
inline std::uint32_t be32(std::span<std::byte const> b, std::size_t off) { return std::uint32_t(get_be(b, off, 4)); }
inline std::uint64_t be64(std::span<std::byte const> b, std::size_t off) { return get_be(b, off, 8); }

// Appends fields to a byte vector.
class Bytes {
public:
    Bytes& le(std::uint64_t v, std::size_t width) {
        for (std::size_t i = 0; i < width; ++i) buf_.push_back(std::byte(v >> (8 * i)));
        return *this;
    }
    Bytes& u8(std::uint8_t v) { return le(v, 1); }
    Bytes& u16(std::uint16_t v) { return le(v, 2); }
    Bytes& u32(std::uint32_t v) { return le(v, 4); }
    Bytes& u64(std::uint64_t v) { return le(v, 8); }
    Bytes& be(std::uint64_t v, std::size_t width) {
        for (std::size_t i = width; i-- > 0;) buf_.push_back(std::byte(v >> (8 * i)));
        return *this;
    }
    Bytes& raw(std::span<std::byte const> b) {
        buf_.insert(buf_.end(), b.begin(), b.end());
        return *this;
    }
    Bytes& text(std::string_view s) { return raw(std::as_bytes(std::span{s.data(), s.size()})); }
    Bytes& zeros(std::size_t n) {
        buf_.insert(buf_.end(), n, std::byte{0});
        return *this;
    }
    [[nodiscard]] std::vector<std::byte> const& vec() const { return buf_; }
    [[nodiscard]] std::vector<std::byte> take() { return std::move(buf_); }
    [[nodiscard]] std::size_t size() const { return buf_.size(); }

private:
    std::vector<std::byte> buf_;
};

} // namespace kxen::toolstack::stream
