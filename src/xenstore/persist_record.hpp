// kxen::xenstore persistence records (format in persist.hpp): encoding, and a reader that
// checks every length against what is left, since the files may be torn or damaged.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "xenstore/node.hpp"

namespace kxen::xenstore::record {

enum Type : std::uint8_t {
    node = 1, remove = 2, domain = 3, release = 4, watch = 5, unwatch = 6, clear_watches = 7,
};

inline constexpr std::string_view snapshot_magic{"KXSSNAP1", 8};
inline constexpr std::string_view journal_magic{"KXSJRNL1", 8};

// Builds one record's body; finish() appends the framed record to a buffer.
class Writer {
public:
    explicit Writer(Type t) { body_.push_back(static_cast<char>(t)); }
    Writer& u8(std::uint8_t v) { body_.push_back(static_cast<char>(v)); return *this; }
    Writer& u32(std::uint32_t v);
    Writer& u64(std::uint64_t v);
    Writer& str(std::string_view s) { u32(static_cast<std::uint32_t>(s.size())); body_.append(s); return *this; }
    Writer& node_state(Node const& n);   // perms, value, children
    void finish(std::string& out) const;

private:
    std::string body_;
};

// Reads fields of one body; any read past the end sets failed and yields zeros.
class Reader {
public:
    explicit Reader(std::string_view body) : rest_{body} {}
    std::uint8_t u8();
    std::uint32_t u32();
    std::uint64_t u64();
    std::string_view str();
    Node node_state();
    bool failed() const { return failed_; }
    bool done() const { return rest_.empty(); }

private:
    std::string_view take(std::size_t n);
    std::string_view rest_;
    bool failed_ = false;
};

// The next framed record's body from data at off (advanced), or nullopt when the data ends
// there, is cut short or fails its checksum.
std::optional<std::string_view> next(std::string_view data, std::size_t& off);

void header(std::string& out, std::string_view magic, std::uint64_t epoch);

} // namespace kxen::xenstore::record
