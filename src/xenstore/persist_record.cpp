#include "xenstore/persist_record.hpp"
#include <array>
#include "xenstore/persist.hpp"

namespace kxen::xenstore {

std::uint32_t crc32(std::string_view data) {
    static constexpr auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t i = 0; i < 256; ++i) {
            std::uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

namespace record {
namespace {

void put_le(std::string& out, std::uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint64_t get_le(std::string_view s) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < s.size(); ++i)
        v |= std::uint64_t{static_cast<unsigned char>(s[i])} << (8 * i);
    return v;
}

constexpr std::size_t max_record = 64u << 20;   // far above any real node; guards the reader

} // namespace

Writer& Writer::u32(std::uint32_t v) { put_le(body_, v, 4); return *this; }
Writer& Writer::u64(std::uint64_t v) { put_le(body_, v, 8); return *this; }

Writer& Writer::node_state(Node const& n) {
    u32(static_cast<std::uint32_t>(n.perms.size()));
    for (auto const& p : n.perms) u32(p.id).u8(p.bits);
    str(n.value);
    u32(static_cast<std::uint32_t>(n.children.size()));
    for (auto const& c : n.children) str(c);
    return *this;
}

void Writer::finish(std::string& out) const {
    put_le(out, body_.size(), 4);
    put_le(out, crc32(body_), 4);
    out.append(body_);
}

std::string_view Reader::take(std::size_t n) {
    if (failed_ || rest_.size() < n) {
        failed_ = true;
        return {};
    }
    auto s = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return s;
}

std::uint8_t Reader::u8() { auto s = take(1); return failed_ ? 0 : static_cast<std::uint8_t>(s[0]); }
std::uint32_t Reader::u32() { return failed_ ? 0 : static_cast<std::uint32_t>(get_le(take(4))); }
std::uint64_t Reader::u64() { return failed_ ? 0 : get_le(take(8)); }
std::string_view Reader::str() { return take(u32()); }

Node Reader::node_state() {
    Node n;
    std::uint32_t np = u32();
    for (std::uint32_t i = 0; i < np && !failed_; ++i) {
        Perm p;
        p.id = u32();
        p.bits = u8();
        n.perms.push_back(p);
    }
    n.value = str();
    std::uint32_t nc = u32();
    for (std::uint32_t i = 0; i < nc && !failed_; ++i) n.children.emplace_back(str());
    return n;
}

std::optional<std::string_view> next(std::string_view data, std::size_t& off) {
    if (data.size() - off < 8) return std::nullopt;
    auto len = static_cast<std::size_t>(get_le(data.substr(off, 4)));
    auto crc = static_cast<std::uint32_t>(get_le(data.substr(off + 4, 4)));
    if (len == 0 || len > max_record || data.size() - off - 8 < len) return std::nullopt;
    auto body = data.substr(off + 8, len);
    if (crc32(body) != crc) return std::nullopt;
    off += 8 + len;
    return body;
}

void header(std::string& out, std::string_view magic, std::uint64_t epoch) {
    out.append(magic);
    put_le(out, epoch, 8);
}

} // namespace record
} // namespace kxen::xenstore
