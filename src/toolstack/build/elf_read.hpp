// Bounds-checked reads from an untrusted ELF file (internal to build/elf*.cpp).
#pragma once
#include "toolstack/build/elf.hpp"

#include <bit>
#include <cstring>
#include <optional>
#include <type_traits>

namespace kxen::toolstack::build::elf_detail {

// ELF headers are read by memcpy into <elf.h>'s structs, which is right only on a
// little-endian host reading a little-endian (ELFDATA2LSB, i.e. x86) file.
static_assert(std::endian::native == std::endian::little, "kxen runs on x86 hosts");

class FileView {
public:
    explicit FileView(std::span<std::byte const> bytes) : bytes_{bytes} {}

    [[nodiscard]] std::uint64_t size() const { return bytes_.size(); }
    // [offset, offset + len) lies inside the file; written so that it cannot overflow.
    [[nodiscard]] bool contains(std::uint64_t offset, std::uint64_t len) const {
        return offset <= size() && len <= size() - offset;
    }
    template <typename T>
    [[nodiscard]] std::optional<T> read(std::uint64_t offset) const {
        static_assert(std::is_trivially_copyable_v<T>);
        if (!contains(offset, sizeof(T))) return std::nullopt;
        T v;
        std::memcpy(&v, bytes_.data() + offset, sizeof(T));   // no alignment assumed
        return v;
    }
    [[nodiscard]] std::span<std::byte const> slice(std::uint64_t offset, std::uint64_t len) const {
        return bytes_.subspan(offset, len);   // callers check contains() first
    }

private:
    std::span<std::byte const> bytes_;
};

// Appends the "Xen" notes found in [offset, offset + size) of the file (a PT_NOTE segment
// or SHT_NOTE section, already checked to lie inside it). `budget` counts notes of any
// name across all calls, so many tables pointing at the same bytes cannot make the scan
// quadratic (libelf's ELF_MAX_TOTAL_NOTE_COUNT plays the same role).
auto collect_xen_notes(FileView file, std::uint64_t offset, std::uint64_t size,
                       std::vector<XenNote>& out, unsigned& budget)
    -> std::expected<void, BuildError>;

} // namespace kxen::toolstack::build::elf_detail
