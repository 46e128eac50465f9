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

template <typename T> std::vector<T> all_of(std::vector<LibxcRecord> const& recs) {
    std::vector<T> out;
    for (auto const& r : recs)
        if (auto p = std::get_if<T>(&r)) out.push_back(*p);
    return out;
}

} // namespace kxen::toolstack::stream::test
