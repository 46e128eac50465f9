// ELF notes: walking a note table, and reading the values of Xen's notes.
#include "toolstack/build/elf_read.hpp"

#include <stdint.h>   // Xen's public headers use the C integer types unqualified
#include <xen/elfnote.h>

#include <elf.h>

#include <array>

namespace kxen::toolstack::build {
namespace elf_detail {

auto collect_xen_notes(FileView file, std::uint64_t offset, std::uint64_t size,
                       std::vector<XenNote>& out, unsigned& budget)
    -> std::expected<void, BuildError> {
    constexpr auto align4 = [](std::uint64_t v) { return (v + 3) & ~std::uint64_t{3}; };
    std::uint64_t const end = offset + size;   // the caller checked the table is in the file
    std::uint64_t pos = offset;
    // A header is three 32-bit words in ELF32 and ELF64 alike. Fewer than 12 bytes left is
    // padding, not a note.
    while (end - pos >= sizeof(Elf64_Nhdr)) {
        if (budget == 0) return build_fail(BuildError::Kind::bad_note, "too many ELF notes");
        --budget;
        auto const nh = *file.read<Elf64_Nhdr>(pos);
        std::uint64_t const name_off = pos + sizeof(Elf64_Nhdr);
        std::uint64_t const desc_off = name_off + align4(nh.n_namesz);   // u32 sizes: no wrap
        // The last note's padding may be missing; its name and value may not.
        if (desc_off > end || nh.n_descsz > end - desc_off)
            return build_fail(BuildError::Kind::bad_note,
                              "malformed ELF note at offset {:#x}: name ({} bytes) and value "
                              "({} bytes) run past the end of the note table at {:#x}",
                              pos, nh.n_namesz, nh.n_descsz, end);
        // Names include their NUL: "Xen" has n_namesz 4. Compare up to the first NUL.
        auto const name = file.slice(name_off, nh.n_namesz);
        // Safety: a char view of bytes inside the file; char may alias anything.
        std::string_view const name_text{reinterpret_cast<char const*>(name.data()), name.size()};
        if (name_text.substr(0, name_text.find('\0')) == "Xen") {
            auto const desc = file.slice(desc_off, nh.n_descsz);
            out.push_back(XenNote{nh.n_type, {desc.begin(), desc.end()}});
        }
        std::uint64_t const next = desc_off + align4(nh.n_descsz);
        pos = next < end ? next : end;
    }
    return {};
}

} // namespace elf_detail

std::optional<std::uint64_t> XenNote::numeric() const {
    switch (desc.size()) {
    case 1: case 2: case 4: case 8: break;
    default: return std::nullopt;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < desc.size(); ++i)
        v |= std::uint64_t{std::to_integer<std::uint8_t>(desc[i])} << (8 * i);
    return v;
}

std::string XenNote::string() const {
    std::string s;
    for (auto b : desc) {
        if (b == std::byte{0}) break;
        s.push_back(static_cast<char>(b));
    }
    return s;
}

XenNote const* ElfImage::note(std::uint32_t type) const {
    for (auto it = notes_.rbegin(); it != notes_.rend(); ++it)
        if (it->type == type) return &*it;
    return nullptr;
}

std::optional<std::string> ElfImage::note_string(std::uint32_t type) const {
    auto const* n = note(type);
    return n ? std::optional{n->string()} : std::nullopt;
}

std::optional<std::uint64_t> ElfImage::note_numeric(std::uint32_t type) const {
    auto const* n = note(type);
    return n ? n->numeric() : std::nullopt;
}

std::string_view xen_elfnote_name(std::uint32_t type) {
    static constexpr std::array<std::string_view, XEN_ELFNOTE_MAX + 1> names{
        "INFO", "ENTRY", "HYPERCALL_PAGE", "VIRT_BASE", "PADDR_OFFSET", "XEN_VERSION",
        "GUEST_OS", "GUEST_VERSION", "LOADER", "PAE_MODE", "FEATURES", "BSD_SYMTAB",
        "HV_START_LOW", "L1_MFN_VALID", "SUSPEND_CANCEL", "INIT_P2M", "MOD_START_PFN",
        "SUPPORTED_FEATURES", "PHYS32_ENTRY",
    };
    static_assert(XEN_ELFNOTE_PHYS32_ENTRY == 18 && XEN_ELFNOTE_GUEST_OS == 6);
    return type < names.size() ? names[type] : "unknown";
}

} // namespace kxen::toolstack::build
