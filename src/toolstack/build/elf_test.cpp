#include "toolstack/build/elf.hpp"
#include "toolstack/build/test_elf.hpp"

#include <stdint.h>
#include <xen/elfnote.h>

#include <elf.h>
#include <gtest/gtest.h>

#include <cstring>

namespace kxen::toolstack::build {
namespace {

using namespace test;
using Kind = BuildError::Kind;

template <typename T>
T get(std::vector<std::byte> const& f, std::uint64_t off) {
    T v;
    std::memcpy(&v, f.data() + off, sizeof v);
    return v;
}
template <typename T>
void set(std::vector<std::byte>& f, std::uint64_t off, T const& v) {
    std::memcpy(f.data() + off, &v, sizeof v);
}

// Parses and expects a refusal of the given kind whose message contains `text`.
void expect_refused(std::vector<std::byte> file, Kind kind, std::string const& text) {
    auto img = parse_elf(std::move(file));
    ASSERT_FALSE(img.has_value()) << "accepted an image that should be refused: " << text;
    EXPECT_EQ(img.error().kind, kind) << img.error().message;
    EXPECT_NE(img.error().message.find(text), std::string::npos) << img.error().message;
}

TEST(Elf, Elf64PvhKernelParses) {
    auto const spec = pvh_kernel(true);
    auto img = parse_elf(make_elf(spec));
    ASSERT_TRUE(img) << img.error().message;
    EXPECT_EQ(img->elf_class(), ElfClass::elf64);
    EXPECT_EQ(img->machine(), EM_X86_64);
    EXPECT_EQ(img->phys32_entry(), 0x100000u);
    ASSERT_EQ(img->segments().size(), 2u);
    EXPECT_EQ(img->segments()[0].paddr, 0x100000u);
    EXPECT_EQ(img->segments()[0].filesz, 0x3000u);
    EXPECT_EQ(img->segments()[0].memsz, 0x5000u);
    EXPECT_EQ(img->segments()[1].paddr, 0x200000u);
    EXPECT_EQ(img->paddr_start(), 0x100000u);
    EXPECT_EQ(img->paddr_end(), 0x201234u);
    auto data = img->segment_data(img->segments()[1]);
    auto const want = spec.segments[1].data;
    ASSERT_EQ(data.size(), want.size());
    EXPECT_TRUE(std::equal(data.begin(), data.end(), want.begin()));
    EXPECT_EQ(img->notes().size(), 3u);
    EXPECT_FALSE(img->notes_from_sections());
    EXPECT_EQ(img->note_string(XEN_ELFNOTE_GUEST_OS), "kxen-test");
    EXPECT_EQ(img->note_string(XEN_ELFNOTE_XEN_VERSION), "xen-3.0");
    EXPECT_EQ(img->note_numeric(XEN_ELFNOTE_PHYS32_ENTRY), 0x100000u);
    EXPECT_FALSE(img->note(XEN_ELFNOTE_LOADER));
    EXPECT_EQ(xen_elfnote_name(XEN_ELFNOTE_PHYS32_ENTRY), "PHYS32_ENTRY");
    EXPECT_EQ(xen_elfnote_name(1000), "unknown");
}

TEST(Elf, Elf32PvhKernelParses) {
    auto img = parse_elf(make_elf(pvh_kernel(false)));
    ASSERT_TRUE(img) << img.error().message;
    EXPECT_EQ(img->elf_class(), ElfClass::elf32);
    EXPECT_EQ(img->machine(), EM_386);
    EXPECT_EQ(img->phys32_entry(), 0x100000u);
    EXPECT_EQ(img->segments().size(), 2u);
    EXPECT_EQ(img->note_string(XEN_ELFNOTE_GUEST_OS), "kxen-test");
}

TEST(Elf, NotesOnlyInSectionsAreFound) {
    for (bool elf64 : {true, false}) {
        auto spec = pvh_kernel(elf64);
        spec.notes_in = NotesIn::sections_only;
        auto img = parse_elf(make_elf(spec));
        ASSERT_TRUE(img) << img.error().message;
        EXPECT_TRUE(img->notes_from_sections());
        EXPECT_EQ(img->phys32_entry(), 0x100000u);
        EXPECT_EQ(img->notes().size(), 3u);
    }
}

TEST(Elf, SegmentsAreSortedByPhysicalAddress) {
    auto spec = pvh_kernel();
    std::swap(spec.segments[0], spec.segments[1]);
    auto img = parse_elf(make_elf(spec));
    ASSERT_TRUE(img) << img.error().message;
    EXPECT_EQ(img->segments()[0].paddr, 0x100000u);
    EXPECT_EQ(img->segments()[1].paddr, 0x200000u);
}

TEST(Elf, ZeroSizedLoadSegmentIsSkipped) {
    auto spec = pvh_kernel();
    spec.segments.push_back({0x150000, {}, 0});
    auto img = parse_elf(make_elf(spec));
    ASSERT_TRUE(img) << img.error().message;
    EXPECT_EQ(img->segments().size(), 2u);
}

TEST(Elf, LastNoteOfATypeWins) {
    auto spec = pvh_kernel();
    spec.notes.push_back(phys32_entry_note(0x100040));
    auto img = parse_elf(make_elf(spec));
    ASSERT_TRUE(img) << img.error().message;
    EXPECT_EQ(img->phys32_entry(), 0x100040u);
}

TEST(Elf, EightByteEntryValueIsAccepted) {
    auto spec = pvh_kernel();
    spec.notes.back().desc.resize(8);   // little-endian: same value, zero-extended
    auto img = parse_elf(make_elf(spec));
    ASSERT_TRUE(img) << img.error().message;
    EXPECT_EQ(img->phys32_entry(), 0x100000u);
}

TEST(Elf, KernelWithoutPhys32EntryIsNotPvh) {
    auto spec = pvh_kernel();
    spec.notes.pop_back();
    expect_refused(make_elf(spec), Kind::not_pvh, "not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
}

TEST(Elf, KernelWithoutAnyNotesIsNotPvh) {
    auto spec = pvh_kernel();
    spec.notes.clear();
    expect_refused(make_elf(spec), Kind::not_pvh, "no XEN_ELFNOTE_PHYS32_ENTRY");
}

TEST(Elf, OnlyNotesNamedXenCount) {
    auto spec = pvh_kernel();
    spec.notes.back().name = "GNU";   // same type number, other owner
    expect_refused(make_elf(spec), Kind::not_pvh, "no XEN_ELFNOTE_PHYS32_ENTRY");
    spec.notes.back().name = "Xenon";
    expect_refused(make_elf(spec), Kind::not_pvh, "no XEN_ELFNOTE_PHYS32_ENTRY");
}

TEST(Elf, EntryNoteWithOddSizeIsRefused) {
    auto spec = pvh_kernel();
    spec.notes.back().desc.resize(3);
    expect_refused(make_elf(spec), Kind::bad_note, "3-byte value");
}

TEST(Elf, EntryAbove4GiBIsRefused) {
    auto spec = pvh_kernel();
    spec.notes.back().desc = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                              std::byte{1}, std::byte{0}, std::byte{0}, std::byte{0}};
    expect_refused(make_elf(spec), Kind::bad_note, "0x100000000 is not a 32-bit address");
}

TEST(Elf, GarbageIsNotElf) {
    expect_refused(bytes_of("this is not a kernel, just some text that is long enough"), Kind::not_elf,
                   "not an ELF image");
    expect_refused({}, Kind::not_elf, "not an ELF image");
    expect_refused(bytes_of("\x7f" "EL"), Kind::not_elf, "not an ELF image");
}

TEST(Elf, TruncatedHeaderIsRefused) {
    auto f = make_elf(pvh_kernel());
    f.resize(40);   // ident is there, the 64-byte header is not
    expect_refused(f, Kind::truncated, "truncated ELF: the ELF64 header needs 64 bytes, the file has 40");
    auto g = make_elf(pvh_kernel(false));
    g.resize(20);
    expect_refused(g, Kind::truncated, "the ELF32 header needs 52 bytes");
}

TEST(Elf, TruncatedProgramHeadersAreRefused) {
    TestElfLayout lay;
    auto f = make_elf(pvh_kernel(), &lay);
    f.resize(lay.phoff + lay.phentsize + 10);
    expect_refused(f, Kind::truncated, "program headers at offset 0x40");
}

TEST(Elf, SegmentBeyondEndOfFileIsRefused) {
    TestElfLayout lay;
    auto f = make_elf(pvh_kernel(), &lay);
    f.resize(lay.segment_offsets[1] + 0x10);   // segment 0 whole, segment 1 cut short
    expect_refused(f, Kind::truncated, "segment 1 data");
}

TEST(Elf, SegmentOffsetPastEndIsRefused) {
    TestElfLayout lay;
    auto f = make_elf(pvh_kernel(), &lay);
    auto ph = get<Elf64_Phdr>(f, lay.phoff);
    ph.p_offset = ~std::uint64_t{0} - 4;   // offset + filesz would wrap
    set(f, lay.phoff, ph);
    expect_refused(f, Kind::truncated, "segment 0 data");
}

TEST(Elf, OverlappingSegmentsAreRefused) {
    auto spec = pvh_kernel();
    spec.segments.push_back({0x104000, pattern(0x100, 3), 0});   // inside segment 0's bss
    expect_refused(make_elf(spec), Kind::bad_segment,
                   "PT_LOAD segments overlap: 0x100000-0x104fff and 0x104000-0x1040ff");
}

TEST(Elf, FileszAboveMemszIsRefused) {
    auto spec = pvh_kernel();
    spec.segments[1].memsz = 0x1000;   // data is 0x1234
    expect_refused(make_elf(spec), Kind::bad_segment, "segment 1: p_filesz 0x1234 is larger than p_memsz 0x1000");
}

TEST(Elf, WrappingSegmentIsRefused) {
    auto spec = pvh_kernel();
    spec.segments[1].paddr = ~std::uint64_t{0} - 0xfff;
    expect_refused(make_elf(spec), Kind::bad_segment, "wraps around");
}

TEST(Elf, NoLoadSegmentIsRefused) {
    auto spec = pvh_kernel();
    for (auto& s : spec.segments) s.type = PT_NULL;
    expect_refused(make_elf(spec), Kind::bad_segment, "no PT_LOAD segment");
    spec.segments.clear();
    spec.notes.clear();
    expect_refused(make_elf(spec), Kind::bad_segment, "no program headers");
}

TEST(Elf, WrongMachineIsRefused) {
    auto spec = pvh_kernel(true);
    spec.machine = EM_386;
    expect_refused(make_elf(spec), Kind::unsupported, "wrong machine: an ELF64 kernel must be for x86-64");
    spec = pvh_kernel(false);
    spec.machine = EM_AARCH64;
    expect_refused(make_elf(spec), Kind::unsupported, "wrong machine: an ELF32 kernel must be for i386");
}

TEST(Elf, WrongClassAndByteOrderAreRefused) {
    auto f = make_elf(pvh_kernel());
    f[EI_CLASS] = std::byte{3};
    expect_refused(f, Kind::unsupported, "unsupported ELF class 3");
    f = make_elf(pvh_kernel());
    f[EI_DATA] = std::byte{ELFDATA2MSB};
    expect_refused(f, Kind::unsupported, "not a little-endian ELF");
}

TEST(Elf, SmallProgramHeaderEntriesAreRefused) {
    auto f = make_elf(pvh_kernel());
    auto eh = get<Elf64_Ehdr>(f, 0);
    eh.e_phentsize = 32;
    set(f, 0, eh);
    expect_refused(f, Kind::unsupported, "e_phentsize 32");
}

TEST(Elf, MalformedNoteIsRefused) {
    TestElfLayout lay;
    auto f = make_elf(pvh_kernel(), &lay);
    auto nh = get<Elf64_Nhdr>(f, lay.notes_offset);
    nh.n_descsz = 0x7fffffff;
    set(f, lay.notes_offset, nh);
    expect_refused(f, Kind::bad_note, "malformed ELF note");
}

TEST(Elf, NoteSegmentBeyondEndOfFileIsRefused) {
    TestElfLayout lay;
    auto f = make_elf(pvh_kernel(), &lay);
    auto const note_ph = lay.phoff + 2 * lay.phentsize;   // after the two PT_LOADs
    auto ph = get<Elf64_Phdr>(f, note_ph);
    ASSERT_EQ(ph.p_type, PT_NOTE);
    ph.p_filesz = f.size();
    set(f, note_ph, ph);
    expect_refused(f, Kind::truncated, "note segment 2");
}

TEST(Elf, SectionHeadersBeyondEndOfFileAreRefused) {
    auto spec = pvh_kernel();
    spec.notes_in = NotesIn::sections_only;
    TestElfLayout lay;
    auto f = make_elf(spec, &lay);
    f.resize(lay.shoff + 10);
    expect_refused(f, Kind::truncated, "section headers");
}

} // namespace
} // namespace kxen::toolstack::build
