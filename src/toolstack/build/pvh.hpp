// kxen::toolstack::build: plan and write a PVH guest's initial memory, as libxl + libxenguest
// do it for `type = "pvh"` (libxl_dom.c libxl__build_hvm, libxl_x86.c
// domain_construct_memmap, xg_dom_x86.c alloc_magic_pages_hvm/bootlate_hvm/vcpu_hvm), and as
// the PVH boot ABI (public/arch-x86/hvm/start_info.h, docs/misc/pvh.pandoc) describes it:
//
//   0 ............ lowmem_end   RAM: kernel segments at p_paddr, then the ramdisk, then
//                               hvm_start_info + memory map + module list + command line
//   mmio_hole_start ... 4 GiB   no RAM; Xen's 8 special pages sit at gfn 0xfeff8..0xfefff
//   4 GiB ....... highmem_end   the RAM that did not fit below the hole, if any
//
// plan_pvh decides every address and builds the boot-info bytes; write_pvh copies them in.
#pragma once
#include "toolstack/build/build_error.hpp"
#include "toolstack/build/elf.hpp"
#include "toolstack/build/guest_phys_writer.hpp"

#include <stdint.h>   // Xen's public headers use the C integer types unqualified
#include <xen/arch-x86/hvm/start_info.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kxen::toolstack::build {

inline constexpr std::uint64_t page_size = 4096;
inline constexpr std::uint64_t gib4 = std::uint64_t{1} << 32;

// From Xen's tools/include/xenctrl_dom.h (not a public header, so restated here): the HVM
// special pages are the 8 gfns below X86_HVM_END_SPECIAL_REGION.
inline constexpr std::uint64_t x86_hvm_nr_special_pages = 8;
inline constexpr std::uint64_t x86_hvm_end_special_region = 0xff000;   // a gfn

// The SPECIALPAGE_* indices of tools/libs/guest/xg_dom_x86.c.
enum class SpecialPage : unsigned {
    paging = 0,    // HVM_PARAM_PAGING_RING_PFN
    access = 1,    // HVM_PARAM_MONITOR_RING_PFN
    sharing = 2,   // HVM_PARAM_SHARING_RING_PFN
    bufioreq = 3,  // HVM_PARAM_BUFIOREQ_PFN
    xenstore = 4,  // HVM_PARAM_STORE_PFN
    ioreq = 5,     // HVM_PARAM_IOREQ_PFN
    ident_pt = 6,  // HVM_PARAM_IDENT_PT (as a byte address)
    console = 7,   // HVM_PARAM_CONSOLE_PFN
};
constexpr std::uint64_t special_gfn(SpecialPage p) {
    return x86_hvm_end_special_region - x86_hvm_nr_special_pages + static_cast<unsigned>(p);
}

// Where RAM below 4 GiB ends for a PVH guest. libxl__build_hvm (no device model) puts the
// hole's start at the lowest of the special pages (0xfeff8000), LAPIC_BASE_ADDRESS
// (0xfee00000) and ACPI_INFO_PHYSICAL_ADDRESS (0xfc000000). An HVM guest with a device
// model gets HVM_BELOW_4G_MMIO_START (0xf0000000, public/hvm/e820.h) instead.
inline constexpr std::uint64_t pvh_mmio_hole_start = 0xfc000000;

struct PvhParams {
    std::uint64_t mem_bytes = 0;             // guest RAM; a whole number of pages
    std::string cmdline;                     // empty: no command line (cmdline_paddr 0)
    std::optional<std::vector<std::byte>> ramdisk;   // module 0, if any (empty = none, as Xen)
    unsigned nr_vcpus = 1;
    // Fresh guest RAM reads as zero, so bss needs no writes. Set this when the memory may
    // hold old data (a reused memfd, a soft reset): then write_pvh zeroes bss and padding.
    bool memory_may_be_dirty = false;
    std::uint64_t mmio_hole_start = pvh_mmio_hole_start;
};

struct PvhModule {
    std::uint64_t paddr = 0;
    std::vector<std::byte> data;
};

struct PvhLayout {
    std::uint64_t mem_bytes = 0;
    std::uint64_t mmio_hole_start = 0;
    std::uint64_t lowmem_end = 0;    // RAM is [0, lowmem_end) ...
    std::uint64_t highmem_end = 0;   // ... and [4 GiB, highmem_end) when this is non-zero
    // The special pages' gfns, indexed by SpecialPage. They are not RAM: the caller
    // populates them (kxend adds the memory) and sets the HVM params that name them.
    std::array<std::uint64_t, x86_hvm_nr_special_pages> special_gfns{};
    // The guest's e820, as libxl gives a PVH guest (and XENMEM_memory_map should return):
    // low RAM, the special pages reserved, high RAM.
    std::vector<hvm_memmap_table_entry> memmap;

    std::vector<ElfSegment> segments;   // what write_pvh copies from the image
    std::optional<PvhModule> ramdisk;
    std::uint64_t start_info_gpa = 0;   // EBX at entry; below 4 GiB by construction
    std::vector<std::byte> start_info;  // the bytes at start_info_gpa (see below)
    std::uint64_t memmap_gpa = 0;       // inside the start_info bytes
    std::uint64_t modlist_gpa = 0;      // 0 without modules
    std::uint64_t cmdline_gpa = 0;      // 0 without a command line
    std::uint64_t alloc_end = 0;        // first page after everything placed
    std::uint32_t entry = 0;            // XEN_ELFNOTE_PHYS32_ENTRY: EIP at entry
    unsigned nr_vcpus = 1;
    bool zero_fill = false;             // PvhParams::memory_may_be_dirty

    [[nodiscard]] std::uint64_t ram_pages() const { return mem_bytes / page_size; }
    // [gpa, gpa + len) lies in the domain's RAM.
    [[nodiscard]] bool in_ram(std::uint64_t gpa, std::uint64_t len) const;
};

// Decides the layout; refuses what does not fit (with the address and the domain's size).
auto plan_pvh(ElfImage const& image, PvhParams params) -> std::expected<PvhLayout, BuildError>;
// The physmap part of the plan alone (RAM ranges, special pages, e820): all a restore needs,
// since the kernel comes with the guest's memory.
auto plan_pvh_ram(std::uint64_t mem_bytes, std::uint64_t mmio_hole_start = pvh_mmio_hole_start)
    -> std::expected<PvhLayout, BuildError>;

// Copies the kernel segments, the ramdisk and the start_info bytes into the guest.
// `image` must be the one the layout was planned for.
auto write_pvh(PvhLayout const& layout, ElfImage const& image, GuestPhysWriter& mem)
    -> std::expected<void, BuildError>;

// The bytes at start_info_gpa, in this order, each 8-byte aligned:
//   struct hvm_start_info (magic XEN_HVM_START_MAGIC_VALUE, version 1, rsdp_paddr 0)
//   struct hvm_memmap_table_entry[memmap.size()]
//   struct hvm_modlist_entry[nr_modules]
//   the command line, NUL-terminated
struct StartInfoPlacement {
    std::uint64_t memmap_gpa, modlist_gpa, cmdline_gpa;
    std::vector<std::byte> bytes;
};
StartInfoPlacement build_start_info(std::uint64_t gpa, std::vector<hvm_memmap_table_entry> const& memmap,
                                    std::optional<PvhModule> const& ramdisk, std::string const& cmdline);
std::uint64_t start_info_size(std::size_t nr_memmap, std::size_t nr_modules, std::string const& cmdline);

} // namespace kxen::toolstack::build
