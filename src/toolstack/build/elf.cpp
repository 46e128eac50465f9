// ElfImage::parse: the ELF header, program headers, PT_LOAD segments and Xen notes.
// ELF32 and ELF64 differ only in struct layout, so each step is one template over both.
#include "toolstack/build/elf_read.hpp"

#include <stdint.h>   // Xen's public headers use the C integer types unqualified
#include <xen/elfnote.h>

#include <elf.h>

#include <algorithm>

namespace kxen::toolstack::build {
namespace {

using elf_detail::FileView;
using Kind = BuildError::Kind;

struct Elf32 {
    using Ehdr = Elf32_Ehdr;
    using Phdr = Elf32_Phdr;
    using Shdr = Elf32_Shdr;
    static constexpr ElfClass cls = ElfClass::elf32;
    static constexpr std::uint16_t machine = EM_386;
    static constexpr std::string_view name = "ELF32";
    static constexpr std::string_view machine_name = "i386";
};
struct Elf64 {
    using Ehdr = Elf64_Ehdr;
    using Phdr = Elf64_Phdr;
    using Shdr = Elf64_Shdr;
    static constexpr ElfClass cls = ElfClass::elf64;
    static constexpr std::uint16_t machine = EM_X86_64;
    static constexpr std::string_view name = "ELF64";
    static constexpr std::string_view machine_name = "x86-64";
};

// Xen notes are few; a real kernel has a few dozen notes in all. This only bounds the work
// a hostile image can cause.
constexpr unsigned max_total_notes = 4096;

// The header and tables, widened to 64 bits so the checks below are written once.
struct Tables {
    std::uint16_t machine = 0;
    std::uint64_t entry = 0;
    std::uint64_t shoff = 0;
    std::uint16_t shentsize = 0;
    std::uint16_t shnum = 0;
    std::vector<Elf64_Phdr> phdrs;
};

template <typename C>
auto read_tables(FileView f) -> std::expected<Tables, BuildError> {
    auto const eh = f.read<typename C::Ehdr>(0);
    if (!eh)
        return build_fail(Kind::truncated, "truncated ELF: the {} header needs {} bytes, the file has {}",
                          C::name, sizeof(typename C::Ehdr), f.size());
    if (eh->e_machine != C::machine)
        return build_fail(Kind::unsupported,
                          "wrong machine: an {} kernel must be for {} (e_machine {}), this one has "
                          "e_machine {}", C::name, C::machine_name, C::machine, eh->e_machine);
    Tables t;
    t.machine = eh->e_machine;
    t.entry = eh->e_entry;
    t.shoff = eh->e_shoff;
    t.shentsize = eh->e_shentsize;
    t.shnum = eh->e_shnum;
    if (eh->e_phnum == 0)
        return build_fail(Kind::bad_segment, "no program headers, so no PT_LOAD segment to load");
    if (eh->e_phentsize < sizeof(typename C::Phdr))
        return build_fail(Kind::unsupported, "e_phentsize {} is smaller than an {} program header ({})",
                          eh->e_phentsize, C::name, sizeof(typename C::Phdr));
    std::uint64_t const table = std::uint64_t{eh->e_phnum} * eh->e_phentsize;   // < 2^32
    if (!f.contains(eh->e_phoff, table))
        return build_fail(Kind::truncated,
                          "truncated ELF: {} program headers at offset {:#x} ({} bytes) run past the "
                          "end of the file ({} bytes)", eh->e_phnum, eh->e_phoff, table, f.size());
    for (std::uint64_t i = 0; i < eh->e_phnum; ++i) {
        auto const ph = *f.read<typename C::Phdr>(eh->e_phoff + i * eh->e_phentsize);
        t.phdrs.push_back(Elf64_Phdr{.p_type = ph.p_type, .p_flags = ph.p_flags,
                                     .p_offset = ph.p_offset, .p_vaddr = ph.p_vaddr,
                                     .p_paddr = ph.p_paddr, .p_filesz = ph.p_filesz,
                                     .p_memsz = ph.p_memsz, .p_align = ph.p_align});
    }
    return t;
}

// The SHT_NOTE sections, as (offset, size): libelf looks there when no PT_NOTE segment
// holds a Xen note.
template <typename C>
auto note_sections(FileView f, Tables const& t)
    -> std::expected<std::vector<std::pair<std::uint64_t, std::uint64_t>>, BuildError> {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> out;
    if (t.shoff == 0 || t.shnum == 0) return out;
    if (t.shentsize < sizeof(typename C::Shdr))
        return build_fail(Kind::unsupported, "e_shentsize {} is smaller than an {} section header ({})",
                          t.shentsize, C::name, sizeof(typename C::Shdr));
    std::uint64_t const table = std::uint64_t{t.shnum} * t.shentsize;
    if (!f.contains(t.shoff, table))
        return build_fail(Kind::truncated,
                          "truncated ELF: {} section headers at offset {:#x} ({} bytes) run past the "
                          "end of the file ({} bytes)", t.shnum, t.shoff, table, f.size());
    for (std::uint64_t i = 0; i < t.shnum; ++i) {
        auto const sh = *f.read<typename C::Shdr>(t.shoff + i * t.shentsize);
        if (sh.sh_type != SHT_NOTE) continue;
        if (!f.contains(sh.sh_offset, sh.sh_size))
            return build_fail(Kind::truncated,
                              "truncated ELF: note section {} (offset {:#x}, {:#x} bytes) runs past "
                              "the end of the file ({} bytes)", i, sh.sh_offset, sh.sh_size, f.size());
        out.emplace_back(sh.sh_offset, sh.sh_size);
    }
    return out;
}

auto load_segments(FileView f, Tables const& t) -> std::expected<std::vector<ElfSegment>, BuildError> {
    std::vector<ElfSegment> segs;
    for (std::size_t i = 0; i < t.phdrs.size(); ++i) {
        auto const& ph = t.phdrs[i];
        if (ph.p_type != PT_LOAD) continue;
        if (ph.p_filesz > ph.p_memsz)
            return build_fail(Kind::bad_segment, "segment {}: p_filesz {:#x} is larger than p_memsz {:#x}",
                              i, ph.p_filesz, ph.p_memsz);
        if (!f.contains(ph.p_offset, ph.p_filesz))
            return build_fail(Kind::truncated,
                              "truncated ELF: segment {} data (offset {:#x}, {:#x} bytes) runs past "
                              "the end of the file ({} bytes)", i, ph.p_offset, ph.p_filesz, f.size());
        if (ph.p_memsz > UINT64_MAX - ph.p_paddr)
            return build_fail(Kind::bad_segment, "segment {}: {:#x} + {:#x} wraps around the address space",
                              i, ph.p_paddr, ph.p_memsz);
        if (ph.p_memsz == 0) continue;   // nothing to load
        segs.push_back(ElfSegment{ph.p_paddr, ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_flags});
    }
    if (segs.empty()) return build_fail(Kind::bad_segment, "no PT_LOAD segment to load");
    // Loading one segment over another would silently depend on the order of the loads.
    std::sort(segs.begin(), segs.end(), [](auto const& a, auto const& b) { return a.paddr < b.paddr; });
    for (std::size_t i = 1; i < segs.size(); ++i)
        if (segs[i].paddr < segs[i - 1].end())
            return build_fail(Kind::bad_segment, "PT_LOAD segments overlap: {:#x}-{:#x} and {:#x}-{:#x}",
                              segs[i - 1].paddr, segs[i - 1].end() - 1, segs[i].paddr, segs[i].end() - 1);
    return segs;
}

} // namespace

auto ElfImage::parse(std::vector<std::byte> file) -> std::expected<ElfImage, BuildError> {
    ElfImage img;
    img.file_ = std::move(file);
    FileView const f{img.file_};

    auto const ident = f.read<std::array<unsigned char, EI_NIDENT>>(0);
    if (!ident || std::memcmp(ident->data(), ELFMAG, SELFMAG) != 0)
        return build_fail(Kind::not_elf, "not an ELF image (no \\x7fELF magic in its first bytes)");
    unsigned char const cls = (*ident)[EI_CLASS];
    if (cls != ELFCLASS32 && cls != ELFCLASS64)
        return build_fail(Kind::unsupported, "unsupported ELF class {} (expected ELF32 or ELF64)", cls);
    if ((*ident)[EI_DATA] != ELFDATA2LSB)
        return build_fail(Kind::unsupported, "not a little-endian ELF image, so not an x86 kernel");
    bool const is64 = cls == ELFCLASS64;
    img.class_ = is64 ? ElfClass::elf64 : ElfClass::elf32;

    auto tables = is64 ? read_tables<Elf64>(f) : read_tables<Elf32>(f);
    if (!tables) return std::unexpected(tables.error());
    img.machine_ = tables->machine;
    img.e_entry_ = tables->entry;

    auto segs = load_segments(f, *tables);
    if (!segs) return std::unexpected(segs.error());
    img.segments_ = std::move(*segs);

    unsigned budget = max_total_notes;
    for (std::size_t i = 0; i < tables->phdrs.size(); ++i) {
        auto const& ph = tables->phdrs[i];
        if (ph.p_type != PT_NOTE) continue;
        if (!f.contains(ph.p_offset, ph.p_filesz))
            return build_fail(Kind::truncated,
                              "truncated ELF: note segment {} (offset {:#x}, {:#x} bytes) runs past "
                              "the end of the file ({} bytes)", i, ph.p_offset, ph.p_filesz, f.size());
        if (auto r = elf_detail::collect_xen_notes(f, ph.p_offset, ph.p_filesz, img.notes_, budget); !r)
            return std::unexpected(r.error());
    }
    if (img.notes_.empty()) {
        auto sections = is64 ? note_sections<Elf64>(f, *tables) : note_sections<Elf32>(f, *tables);
        if (!sections) return std::unexpected(sections.error());
        for (auto const& [offset, size] : *sections)
            if (auto r = elf_detail::collect_xen_notes(f, offset, size, img.notes_, budget); !r)
                return std::unexpected(r.error());
        img.notes_from_sections_ = !img.notes_.empty();
    }

    // The one note PVH needs (libelf's elf_xen_note_check: "PVH only requires one ELF note").
    auto const* entry = img.note(XEN_ELFNOTE_PHYS32_ENTRY);
    if (!entry) return build_fail(Kind::not_pvh, "not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
    auto const value = entry->numeric();
    if (!value)
        return build_fail(Kind::bad_note, "XEN_ELFNOTE_PHYS32_ENTRY has a {}-byte value (expected 4)",
                          entry->desc.size());
    if (*value > UINT32_MAX)
        return build_fail(Kind::bad_note, "XEN_ELFNOTE_PHYS32_ENTRY {:#x} is not a 32-bit address", *value);
    img.phys32_entry_ = static_cast<std::uint32_t>(*value);
    return img;
}

std::span<std::byte const> ElfImage::segment_data(ElfSegment const& s) const {
    FileView const f{file_};
    if (!f.contains(s.offset, s.filesz)) return {};   // not a segment of this image
    return f.slice(s.offset, s.filesz);
}

} // namespace kxen::toolstack::build
