// plan_pvh: where RAM is, where the kernel, ramdisk and boot information go.
#include "toolstack/build/pvh.hpp"

#include <xen/hvm/hvm_info_table.h>

#include <algorithm>

namespace kxen::toolstack::build {
namespace {

using Kind = BuildError::Kind;

constexpr std::uint64_t page_up(std::uint64_t v) { return (v + page_size - 1) & ~(page_size - 1); }
constexpr std::uint64_t special_start = special_gfn(SpecialPage::paging) * page_size;

// Large enough for any host, small enough that 4 GiB + mem cannot wrap.
constexpr std::uint64_t max_mem_bytes = std::uint64_t{1} << 52;

auto check_params(PvhParams const& p) -> std::expected<void, BuildError> {
    if (p.mem_bytes == 0 || p.mem_bytes % page_size != 0 || p.mem_bytes > max_mem_bytes)
        return build_fail(Kind::bad_params, "guest memory of {:#x} bytes is not a whole number of "
                          "pages between 4 KiB and 4 PiB", p.mem_bytes);
    if (p.nr_vcpus == 0 || p.nr_vcpus > HVM_MAX_VCPUS)
        return build_fail(Kind::bad_params, "{} vCPUs: a PVH guest has 1 to {}", p.nr_vcpus, HVM_MAX_VCPUS);
    // The special pages must be in the hole, or they would sit inside guest RAM.
    if (p.mmio_hole_start % page_size != 0 || p.mmio_hole_start < (std::uint64_t{1} << 20) ||
        p.mmio_hole_start > special_start)
        return build_fail(Kind::bad_params, "MMIO hole start {:#x} must be page aligned, at least "
                          "1 MiB and at most {:#x}", p.mmio_hole_start, special_start);
    // The guest reads the command line up to the first NUL; anything after it would be lost.
    if (p.cmdline.find('\0') != std::string::npos)
        return build_fail(Kind::bad_params, "the command line contains a NUL byte");
    return {};
}

std::uint64_t mib(std::uint64_t bytes) { return bytes >> 20; }

// libxl_x86.c domain_construct_memmap for PVH: RAM from 0 (no device model, so no legacy
// region below 1 MiB is carved out), the special pages reserved, then high RAM.
std::vector<hvm_memmap_table_entry> make_memmap(PvhLayout const& l) {
    std::vector<hvm_memmap_table_entry> m;
    m.push_back({.addr = 0, .size = l.lowmem_end, .type = XEN_HVM_MEMMAP_TYPE_RAM, .reserved = 0});
    m.push_back({.addr = special_start, .size = x86_hvm_nr_special_pages * page_size,
                 .type = XEN_HVM_MEMMAP_TYPE_RESERVED, .reserved = 0});
    if (l.highmem_end)
        m.push_back({.addr = gib4, .size = l.highmem_end - gib4, .type = XEN_HVM_MEMMAP_TYPE_RAM,
                     .reserved = 0});
    return m;
}

} // namespace

bool PvhLayout::in_ram(std::uint64_t gpa, std::uint64_t len) const {
    if (gpa <= lowmem_end && len <= lowmem_end - gpa) return true;
    return highmem_end && gpa >= gib4 && gpa <= highmem_end && len <= highmem_end - gpa;
}

auto plan_pvh_ram(std::uint64_t mem_bytes, std::uint64_t mmio_hole_start) -> std::expected<PvhLayout, BuildError> {
    PvhParams params;
    params.mem_bytes = mem_bytes;
    params.mmio_hole_start = mmio_hole_start;
    if (auto r = check_params(params); !r) return std::unexpected(r.error());
    PvhLayout l;
    l.mem_bytes = mem_bytes;
    l.mmio_hole_start = mmio_hole_start;
    // libxl__build_hvm: RAM that would overlap the hole is moved above 4 GiB.
    l.lowmem_end = std::min(mem_bytes, mmio_hole_start);
    l.highmem_end = mem_bytes > mmio_hole_start ? gib4 + (mem_bytes - mmio_hole_start) : 0;
    for (unsigned i = 0; i < x86_hvm_nr_special_pages; ++i)
        l.special_gfns[i] = special_gfn(static_cast<SpecialPage>(i));
    l.memmap = make_memmap(l);
    return l;
}

auto plan_pvh(ElfImage const& image, PvhParams params) -> std::expected<PvhLayout, BuildError> {
    if (auto r = check_params(params); !r) return std::unexpected(r.error());
    auto ram = plan_pvh_ram(params.mem_bytes, params.mmio_hole_start);
    if (!ram) return ram;
    PvhLayout l = std::move(*ram);
    l.nr_vcpus = params.nr_vcpus;
    l.zero_fill = params.memory_may_be_dirty;
    l.entry = image.phys32_entry();

    // The entry runs with paging off in 32-bit mode, so the kernel and everything it is
    // handed must be in the RAM below the hole.
    auto const below_hole = [&] {
        return l.highmem_end ? fmt::format(" (its RAM below 4 GiB ends at {:#x})", l.lowmem_end)
                             : std::string{};
    };
    for (auto const& s : image.segments())
        if (s.end() > l.lowmem_end)
            return build_fail(Kind::too_big, "kernel segment {:#x}-{:#x} does not fit in the domain's "
                              "{} MiB{}", s.paddr, s.end() - 1, mib(l.mem_bytes), below_hole());
    if (l.entry >= l.lowmem_end)
        return build_fail(Kind::too_big, "PVH entry point {:#x} is outside the domain's {} MiB{}",
                          l.entry, mib(l.mem_bytes), below_hole());
    l.segments = image.segments();

    // Xen's order: the kernel, then modules, then the start info, each page aligned.
    std::uint64_t cursor = page_up(image.paddr_end());
    if (params.ramdisk && !params.ramdisk->empty()) {
        std::uint64_t const size = params.ramdisk->size();
        if (size > l.lowmem_end - cursor)
            return build_fail(Kind::too_big, "the ramdisk ({} bytes at {:#x}) does not fit in the "
                              "domain's {} MiB{}", size, cursor, mib(l.mem_bytes), below_hole());
        l.ramdisk = PvhModule{cursor, std::move(*params.ramdisk)};
        cursor = page_up(cursor + size);
    }
    std::uint64_t const info_size =
        start_info_size(l.memmap.size(), l.ramdisk ? 1 : 0, params.cmdline);
    if (cursor > l.lowmem_end || info_size > l.lowmem_end - cursor)
        return build_fail(Kind::too_big, "the boot information ({} bytes: start info, memory map, "
                          "command line) does not fit at {:#x} in the domain's {} MiB{}",
                          info_size, cursor, mib(l.mem_bytes), below_hole());
    auto info = build_start_info(cursor, l.memmap, l.ramdisk, params.cmdline);
    l.start_info_gpa = cursor;
    l.start_info = std::move(info.bytes);
    l.memmap_gpa = info.memmap_gpa;
    l.modlist_gpa = info.modlist_gpa;
    l.cmdline_gpa = info.cmdline_gpa;
    l.alloc_end = page_up(cursor + info_size);
    return l;
}

} // namespace kxen::toolstack::build
