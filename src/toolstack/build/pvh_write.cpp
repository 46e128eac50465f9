// write_pvh: copy what plan_pvh placed into the guest, through the caller's mapping.
#include "toolstack/build/pvh.hpp"

#include <algorithm>
#include <cstring>

namespace kxen::toolstack::build {
namespace {

using Kind = BuildError::Kind;

// Writes `data` at gpa (or zeroes `len` bytes when data is empty), in pieces that never
// cross a max_map_len boundary, as GuestPhysWriter promises its implementations.
auto put(GuestPhysWriter& mem, std::uint64_t gpa, std::span<std::byte const> data, std::uint64_t len)
    -> std::expected<void, BuildError> {
    constexpr std::uint64_t window = GuestPhysWriter::max_map_len;
    std::uint64_t done = 0;
    while (done < len) {
        std::uint64_t const at = gpa + done;
        std::uint64_t const n = std::min(len - done, window - at % window);
        auto dst = mem.map(at, static_cast<std::size_t>(n));
        if (dst.size() != n)
            return build_fail(Kind::unmapped, "cannot map guest memory {:#x}-{:#x}", at, at + n - 1);
        if (data.empty())
            std::memset(dst.data(), 0, dst.size());
        else
            std::memcpy(dst.data(), data.data() + done, dst.size());
        done += n;
    }
    return {};
}

auto copy(GuestPhysWriter& mem, std::uint64_t gpa, std::span<std::byte const> data) {
    return put(mem, gpa, data, data.size());
}
auto zero(GuestPhysWriter& mem, std::uint64_t gpa, std::uint64_t len) {
    return put(mem, gpa, {}, len);
}

std::uint64_t page_tail(std::uint64_t end) { return (page_size - end % page_size) % page_size; }

} // namespace

auto write_pvh(PvhLayout const& l, ElfImage const& image, GuestPhysWriter& mem)
    -> std::expected<void, BuildError> {
    // A layout planned for another image would copy the wrong bytes, or bytes from outside
    // this image's file.
    if (l.segments != image.segments())
        return build_fail(Kind::bad_params, "the layout was planned for a different kernel image");
    for (auto const& s : l.segments) {
        if (!l.in_ram(s.paddr, s.memsz))   // plan_pvh guarantees this; cheap to re-check
            return build_fail(Kind::too_big, "kernel segment {:#x}-{:#x} is outside RAM", s.paddr, s.end() - 1);
        if (auto r = copy(mem, s.paddr, image.segment_data(s)); !r) return r;
        // bss: fresh guest RAM is already zero, so only dirty memory needs the writes.
        if (l.zero_fill)
            if (auto r = zero(mem, s.paddr + s.filesz, s.memsz - s.filesz); !r) return r;
    }
    if (l.ramdisk) {
        auto const& m = *l.ramdisk;
        if (auto r = copy(mem, m.paddr, m.data); !r) return r;
        if (l.zero_fill)
            if (auto r = zero(mem, m.paddr + m.data.size(), page_tail(m.paddr + m.data.size())); !r) return r;
    }
    if (auto r = copy(mem, l.start_info_gpa, l.start_info); !r) return r;
    if (l.zero_fill) {
        std::uint64_t const end = l.start_info_gpa + l.start_info.size();
        if (auto r = zero(mem, end, page_tail(end)); !r) return r;
    }
    return {};
}

} // namespace kxen::toolstack::build
