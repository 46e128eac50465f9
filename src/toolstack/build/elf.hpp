// kxen::toolstack::build::ElfImage: an x86 ELF32 or ELF64 kernel, checked the way Xen's
// libelf checks it (xen/common/libelf), reduced to what a PVH build needs: the PT_LOAD
// segments at their physical addresses, and the "Xen" ELF notes (public/elfnote.h).
//
// Every offset and size in the file is checked before it is used, so a hostile image is
// refused with a message, never read out of bounds.
#pragma once
#include "toolstack/build/build_error.hpp"

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kxen::toolstack::build {

enum class ElfClass { elf32, elf64 };

// A PT_LOAD segment with memsz > 0. PVH loads at p_paddr: paging is off at the entry point
// (libelf's elf_xen_addr_calc_check forces virt_base and paddr_offset to 0 for HVM guests).
struct ElfSegment {
    std::uint64_t paddr = 0;
    std::uint64_t vaddr = 0;
    std::uint64_t offset = 0;   // of the file bytes
    std::uint64_t filesz = 0;   // bytes taken from the file; the rest up to memsz is zero
    std::uint64_t memsz = 0;
    std::uint32_t flags = 0;    // PF_R | PF_W | PF_X

    [[nodiscard]] std::uint64_t end() const { return paddr + memsz; }   // checked not to wrap
    auto operator<=>(ElfSegment const&) const = default;
};

// One note whose name is "Xen". Types are XEN_ELFNOTE_* from <xen/elfnote.h>.
struct XenNote {
    std::uint32_t type = 0;
    std::vector<std::byte> desc;

    // Numeric notes are little-endian values of 1, 2, 4 or 8 bytes (libelf's
    // elf_note_numeric); nullopt for any other size.
    [[nodiscard]] std::optional<std::uint64_t> numeric() const;
    // String notes hold a NUL-terminated string; the text up to the first NUL.
    [[nodiscard]] std::string string() const;
};

class ElfImage {
public:
    // Takes the file's bytes and checks them; see BuildError::Kind for what is refused.
    static auto parse(std::vector<std::byte> file) -> std::expected<ElfImage, BuildError>;

    [[nodiscard]] ElfClass elf_class() const { return class_; }
    [[nodiscard]] std::uint16_t machine() const { return machine_; }
    [[nodiscard]] std::uint64_t e_entry() const { return e_entry_; }
    // XEN_ELFNOTE_PHYS32_ENTRY: where vCPU0 starts, in 32-bit protected mode.
    [[nodiscard]] std::uint32_t phys32_entry() const { return phys32_entry_; }
    // Sorted by paddr, non-overlapping.
    [[nodiscard]] std::vector<ElfSegment> const& segments() const { return segments_; }
    [[nodiscard]] std::uint64_t paddr_start() const { return segments_.front().paddr; }
    [[nodiscard]] std::uint64_t paddr_end() const { return segments_.back().end(); }
    // In file order; notes_from_sections() says whether they came from SHT_NOTE sections
    // because no PT_NOTE segment held a Xen note.
    [[nodiscard]] std::vector<XenNote> const& notes() const { return notes_; }
    [[nodiscard]] bool notes_from_sections() const { return notes_from_sections_; }
    // The last note of a type (libelf keeps the last one it parses).
    [[nodiscard]] XenNote const* note(std::uint32_t type) const;
    [[nodiscard]] std::optional<std::string> note_string(std::uint32_t type) const;
    [[nodiscard]] std::optional<std::uint64_t> note_numeric(std::uint32_t type) const;
    // The filesz bytes of a segment of this image.
    [[nodiscard]] std::span<std::byte const> segment_data(ElfSegment const& s) const;
    [[nodiscard]] std::span<std::byte const> file() const { return file_; }

private:
    ElfImage() = default;

    std::vector<std::byte> file_;
    ElfClass class_ = ElfClass::elf64;
    std::uint16_t machine_ = 0;
    std::uint64_t e_entry_ = 0;
    std::uint32_t phys32_entry_ = 0;
    std::vector<ElfSegment> segments_;
    std::vector<XenNote> notes_;
    bool notes_from_sections_ = false;
};

inline auto parse_elf(std::vector<std::byte> file) -> std::expected<ElfImage, BuildError> {
    return ElfImage::parse(std::move(file));
}
inline auto parse_elf(std::span<std::byte const> file) -> std::expected<ElfImage, BuildError> {
    return ElfImage::parse(std::vector<std::byte>(file.begin(), file.end()));
}

// "PHYS32_ENTRY", "GUEST_OS", ... for XEN_ELFNOTE_* types, as libelf logs them.
std::string_view xen_elfnote_name(std::uint32_t type);

} // namespace kxen::toolstack::build
