// Test helper: writes small ELF32/ELF64 kernels with chosen segments and notes, so the
// builder's tests need no binaries checked in.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kxen::toolstack::build::test {

struct TestSegment {
    std::uint64_t paddr = 0;
    std::vector<std::byte> data;   // becomes p_filesz
    std::uint64_t memsz = 0;       // 0: same as data.size()
    std::uint32_t type = 1;        // PT_LOAD
};

struct TestNote {
    std::string name = "Xen";
    std::uint32_t type = 0;
    std::vector<std::byte> desc;
};

enum class NotesIn { pt_note, sections_only };

struct TestElf {
    bool elf64 = true;
    std::uint16_t machine = 0;   // 0: EM_X86_64 or EM_386 to match the class
    std::vector<TestSegment> segments;
    std::vector<TestNote> notes;
    NotesIn notes_in = NotesIn::pt_note;
};

// Where make_elf put things, for tests that cut or patch the file.
struct TestElfLayout {
    std::uint64_t phoff = 0;
    std::uint64_t phentsize = 0;
    std::uint64_t phnum = 0;
    std::vector<std::uint64_t> segment_offsets;   // file offset of each TestSegment's data
    std::uint64_t notes_offset = 0;
    std::uint64_t shoff = 0;                      // 0 when there are no section headers
};

std::vector<std::byte> make_elf(TestElf const& spec, TestElfLayout* layout = nullptr);

std::vector<std::byte> bytes_of(std::string const& s);
std::vector<std::byte> pattern(std::size_t n, std::uint8_t seed);
TestNote phys32_entry_note(std::uint32_t entry);
TestNote string_note(std::uint32_t type, std::string const& s);

// A typical PVH kernel: code at 1 MiB (0x3000 bytes + 0x2000 bss), data at 2 MiB, the
// PHYS32_ENTRY note at 0x100000 plus GUEST_OS and XEN_VERSION notes.
TestElf pvh_kernel(bool elf64 = true);

} // namespace kxen::toolstack::build::test
