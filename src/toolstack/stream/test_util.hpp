// Helpers for the stream tests: read a whole stream from bytes and keep every record.
#pragma once
#include "toolstack/stream/reader.hpp"

#include <optional>
#include <vector>

namespace kxen::toolstack::stream::test {

struct Collected {
    std::optional<XlHeader> xl;
    std::vector<LibxlRecord> libxl;
    std::optional<LibxcHeader> libxc_header;
    std::vector<LibxcRecord> libxc;
};

inline StreamVisitor collect_into(Collected& c) {
    return {
        [&c](LibxlRecord const& r) -> StreamResult<void> { c.libxl.push_back(r); return {}; },
        [&c](LibxcHeader const& h) -> StreamResult<void> { c.libxc_header = h; return {}; },
        [&c](LibxcRecord const& r) -> StreamResult<void> { c.libxc.push_back(r); return {}; },
    };
}

inline StreamResult<Collected> read_xl(std::span<std::byte const> bytes, ReadOptions opts = {}) {
    Collected c;
    MemorySource src{bytes};
    StreamInput in{src};
    auto h = read_xl_save(in, opts, collect_into(c));
    if (!h) return std::unexpected(h.error());
    c.xl = *h;
    return c;
}

inline StreamResult<Collected> read_libxl(std::span<std::byte const> bytes, ReadOptions opts = {}) {
    Collected c;
    MemorySource src{bytes};
    StreamInput in{src};
    if (auto r = read_libxl_stream(in, opts, collect_into(c)); !r) return std::unexpected(r.error());
    return c;
}

// A bare libxc stream, up to END.
inline StreamResult<Collected> read_libxc(std::span<std::byte const> bytes, ReadOptions opts = {}) {
    Collected c;
    MemorySource src{bytes};
    StreamInput in{src};
    LibxcReader xc{in, opts};
    auto h = xc.read_header();
    if (!h) return std::unexpected(h.error());
    c.libxc_header = *h;
    for (;;) {
        auto r = xc.next();
        if (!r) return std::unexpected(r.error());
        c.libxc.push_back(*r);
        if (std::holds_alternative<EndRecord>(*r)) return c;
    }
}

// Byte streams built by hand, for streams written from the specs rather than by our writer.
using B = std::vector<std::uint8_t>;

struct Hand {
    std::vector<std::byte> bytes;
    Hand& raw(B const& b) {
        for (auto x : b) bytes.push_back(std::byte(x));
        return *this;
    }
    Hand& le32(std::uint32_t v) { return raw({std::uint8_t(v), std::uint8_t(v >> 8), std::uint8_t(v >> 16), std::uint8_t(v >> 24)}); }
    Hand& le64(std::uint64_t v) { return le32(std::uint32_t(v)).le32(std::uint32_t(v >> 32)); }
    // A record: type, body_length, body, zero padding to 8 octets.
    Hand& rec(std::uint32_t type, B const& body) {
        le32(type).le32(std::uint32_t(body.size())).raw(body);
        return raw(B((8 - body.size() % 8) % 8, 0));
    }
    Hand& rec(std::uint32_t type, std::vector<std::byte> const& body) {
        le32(type).le32(std::uint32_t(body.size()));
        bytes.insert(bytes.end(), body.begin(), body.end());
        return raw(B((8 - body.size() % 8) % 8, 0));
    }
    // Image header (big-endian) and an x86 HVM domain header from Xen 4.17.
    Hand& libxc_headers(std::uint8_t version = 3) {
        raw({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'X', 'E', 'N', 'F', 0, 0, 0, version, 0, 0, 0, 0, 0, 0, 0, 0});
        return raw({2, 0, 0, 0, 12, 0, 0, 0, 4, 0, 0, 0, 17, 0, 0, 0});
    }
    Hand& libxl_header(std::uint8_t options = 0) {
        return raw({'L', 'i', 'b', 'x', 'l', 'F', 'm', 't', 0, 0, 0, 2, 0, 0, 0, options});
    }
};

// A minimal HVM context blob: HEADER (magic 0x54381286, version 1) and END.
inline B context_blob() {
    return {1, 0, 0, 0, 24, 0, 0, 0, 0x86, 0x12, 0x38, 0x54, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0xea, 0x06, 0x09, 0, 0x80, 0x84, 0x1e, 0, 0, 0, 0, 0, 0, 0, 0, 0};
}

inline B page_data_body(std::vector<std::uint64_t> pfn_words, unsigned data_pages, std::uint8_t fill) {
    Hand h;
    h.le32(std::uint32_t(pfn_words.size())).le32(0);
    for (auto w : pfn_words) h.le64(w);
    B out;
    for (auto b : h.bytes) out.push_back(std::to_integer<std::uint8_t>(b));
    out.insert(out.end(), std::size_t(data_pages) * 4096, fill);
    return out;
}

template <typename T> std::vector<T> all_of(std::vector<LibxcRecord> const& recs) {
    std::vector<T> out;
    for (auto const& r : recs)
        if (auto p = std::get_if<T>(&r)) out.push_back(*p);
    return out;
}

} // namespace kxen::toolstack::stream::test
