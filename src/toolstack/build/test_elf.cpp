#include "toolstack/build/test_elf.hpp"

#include <stdint.h>
#include <xen/elfnote.h>

#include <elf.h>

#include <cstring>

namespace kxen::toolstack::build::test {
namespace {

struct C32 {
    using Ehdr = Elf32_Ehdr;
    using Phdr = Elf32_Phdr;
    using Shdr = Elf32_Shdr;
    static constexpr unsigned char cls = ELFCLASS32;
    static constexpr std::uint16_t machine = EM_386;
};
struct C64 {
    using Ehdr = Elf64_Ehdr;
    using Phdr = Elf64_Phdr;
    using Shdr = Elf64_Shdr;
    static constexpr unsigned char cls = ELFCLASS64;
    static constexpr std::uint16_t machine = EM_X86_64;
};

std::uint64_t align(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

template <typename T>
void put(std::vector<std::byte>& f, std::uint64_t off, T const& v) {
    if (f.size() < off + sizeof v) f.resize(off + sizeof v);
    std::memcpy(f.data() + off, &v, sizeof v);
}
void put_bytes(std::vector<std::byte>& f, std::uint64_t off, std::vector<std::byte> const& b) {
    if (b.empty()) return;   // memcpy from an empty vector's null data() is UB
    if (f.size() < off + b.size()) f.resize(off + b.size());
    std::memcpy(f.data() + off, b.data(), b.size());
}

std::vector<std::byte> note_table(std::vector<TestNote> const& notes) {
    std::vector<std::byte> t;
    for (auto const& n : notes) {
        Elf64_Nhdr h{};   // same layout in ELF32
        h.n_namesz = static_cast<std::uint32_t>(n.name.size() + 1);
        h.n_descsz = static_cast<std::uint32_t>(n.desc.size());
        h.n_type = n.type;
        std::uint64_t const off = t.size();
        put(t, off, h);
        put_bytes(t, off + sizeof h, bytes_of(n.name));   // NUL comes from the alignment fill
        t.resize(align(off + sizeof h + h.n_namesz, 4));
        put_bytes(t, t.size(), n.desc);
        t.resize(align(t.size(), 4));
    }
    return t;
}

template <typename C>
std::vector<std::byte> make(TestElf const& spec, TestElfLayout& lay) {
    bool const pt_note = !spec.notes.empty() && spec.notes_in == NotesIn::pt_note;
    lay.phoff = sizeof(typename C::Ehdr);
    lay.phentsize = sizeof(typename C::Phdr);
    lay.phnum = spec.segments.size() + (pt_note ? 1 : 0);

    std::vector<std::byte> f;
    std::uint64_t off = align(lay.phoff + lay.phnum * lay.phentsize, 16);
    for (auto const& s : spec.segments) {
        lay.segment_offsets.push_back(off);
        put_bytes(f, off, s.data);
        off = align(off + s.data.size(), 16);
    }
    auto const notes = note_table(spec.notes);
    lay.notes_offset = off;
    put_bytes(f, off, notes);
    off = align(off + notes.size(), 16);

    bool const sections = !spec.notes.empty() && spec.notes_in == NotesIn::sections_only;
    if (sections) {
        // Section 0 is the null section; 1 is the note section. No string table: the
        // loader does not look at section names.
        lay.shoff = off;
        typename C::Shdr note_sh{};
        note_sh.sh_type = SHT_NOTE;
        note_sh.sh_offset = static_cast<decltype(note_sh.sh_offset)>(lay.notes_offset);
        note_sh.sh_size = static_cast<decltype(note_sh.sh_size)>(notes.size());
        note_sh.sh_addralign = 4;
        put(f, off, typename C::Shdr{});
        put(f, off + sizeof(typename C::Shdr), note_sh);
    }

    typename C::Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = C::cls;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = spec.machine ? spec.machine : C::machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = spec.segments.empty() ? 0 : static_cast<decltype(eh.e_entry)>(spec.segments[0].paddr);
    eh.e_phoff = static_cast<decltype(eh.e_phoff)>(lay.phoff);
    eh.e_shoff = static_cast<decltype(eh.e_shoff)>(lay.shoff);
    eh.e_ehsize = sizeof eh;
    eh.e_phentsize = static_cast<std::uint16_t>(lay.phentsize);
    eh.e_phnum = static_cast<std::uint16_t>(lay.phnum);
    eh.e_shentsize = sizeof(typename C::Shdr);
    eh.e_shnum = sections ? 2 : 0;
    put(f, 0, eh);

    std::uint64_t ph_off = lay.phoff;
    for (std::size_t i = 0; i < spec.segments.size(); ++i) {
        auto const& s = spec.segments[i];
        typename C::Phdr ph{};
        ph.p_type = s.type;
        ph.p_flags = PF_R | PF_X;
        ph.p_offset = static_cast<decltype(ph.p_offset)>(lay.segment_offsets[i]);
        ph.p_vaddr = static_cast<decltype(ph.p_vaddr)>(s.paddr);
        ph.p_paddr = static_cast<decltype(ph.p_paddr)>(s.paddr);
        ph.p_filesz = static_cast<decltype(ph.p_filesz)>(s.data.size());
        ph.p_memsz = static_cast<decltype(ph.p_memsz)>(s.memsz ? s.memsz : s.data.size());
        ph.p_align = 16;
        put(f, ph_off, ph);
        ph_off += lay.phentsize;
    }
    if (pt_note) {
        typename C::Phdr ph{};
        ph.p_type = PT_NOTE;
        ph.p_flags = PF_R;
        ph.p_offset = static_cast<decltype(ph.p_offset)>(lay.notes_offset);
        ph.p_filesz = static_cast<decltype(ph.p_filesz)>(notes.size());
        ph.p_align = 4;
        put(f, ph_off, ph);
    }
    return f;
}

} // namespace

std::vector<std::byte> make_elf(TestElf const& spec, TestElfLayout* layout) {
    TestElfLayout lay;
    auto f = spec.elf64 ? make<C64>(spec, lay) : make<C32>(spec, lay);
    if (layout) *layout = std::move(lay);
    return f;
}

std::vector<std::byte> bytes_of(std::string const& s) {
    std::vector<std::byte> b(s.size());
    std::memcpy(b.data(), s.data(), s.size());
    return b;
}

std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::byte> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = std::byte(static_cast<std::uint8_t>(seed + i * 7 + (i >> 8)));
    return b;
}

TestNote phys32_entry_note(std::uint32_t entry) {
    TestNote n;
    n.type = XEN_ELFNOTE_PHYS32_ENTRY;
    n.desc.resize(4);
    std::memcpy(n.desc.data(), &entry, 4);
    return n;
}

TestNote string_note(std::uint32_t type, std::string const& s) {
    TestNote n;
    n.type = type;
    n.desc = bytes_of(s);
    n.desc.push_back(std::byte{0});
    return n;
}

TestElf pvh_kernel(bool elf64) {
    TestElf k;
    k.elf64 = elf64;
    k.segments.push_back({0x100000, pattern(0x3000, 1), 0x5000});
    k.segments.push_back({0x200000, pattern(0x1234, 2), 0});
    k.notes.push_back(string_note(XEN_ELFNOTE_GUEST_OS, "kxen-test"));
    k.notes.push_back(string_note(XEN_ELFNOTE_XEN_VERSION, "xen-3.0"));
    k.notes.push_back(phys32_entry_note(0x100000));
    return k;
}

} // namespace kxen::toolstack::build::test
