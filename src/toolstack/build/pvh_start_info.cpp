// The PVH boot information: struct hvm_start_info and the tables it points to, laid out
// in one block as Xen's alloc_magic_pages_hvm/bootlate_hvm do (start_info.h, version 1).
#include "toolstack/build/pvh.hpp"

#include <cstring>

namespace kxen::toolstack::build {
namespace {

constexpr std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~std::uint64_t{7}; }

struct Offsets {
    std::uint64_t memmap, modlist, cmdline, size;
};

Offsets offsets_for(std::size_t nr_memmap, std::size_t nr_modules, std::string const& cmdline) {
    Offsets o{};
    o.memmap = align8(sizeof(hvm_start_info));
    o.modlist = align8(o.memmap + nr_memmap * sizeof(hvm_memmap_table_entry));
    o.cmdline = align8(o.modlist + nr_modules * sizeof(hvm_modlist_entry));
    o.size = o.cmdline + (cmdline.empty() ? 0 : cmdline.size() + 1);
    return o;
}

template <typename T>
void put(std::vector<std::byte>& out, std::uint64_t offset, T const& v) {
    std::memcpy(out.data() + offset, &v, sizeof v);   // `out` was sized by offsets_for
}

} // namespace

std::uint64_t start_info_size(std::size_t nr_memmap, std::size_t nr_modules, std::string const& cmdline) {
    return offsets_for(nr_memmap, nr_modules, cmdline).size;
}

StartInfoPlacement build_start_info(std::uint64_t gpa, std::vector<hvm_memmap_table_entry> const& memmap,
                                    std::optional<PvhModule> const& ramdisk, std::string const& cmdline) {
    std::size_t const nr_modules = ramdisk ? 1 : 0;
    Offsets const o = offsets_for(memmap.size(), nr_modules, cmdline);
    StartInfoPlacement p{};
    p.bytes.assign(o.size, std::byte{0});
    p.memmap_gpa = gpa + o.memmap;
    p.modlist_gpa = nr_modules ? gpa + o.modlist : 0;
    p.cmdline_gpa = cmdline.empty() ? 0 : gpa + o.cmdline;

    hvm_start_info si{};
    si.magic = XEN_HVM_START_MAGIC_VALUE;
    si.version = 1;                       // memmap_paddr/memmap_entries are valid
    si.flags = 0;                         // SIF_*: not privileged, no initdomain
    si.nr_modules = static_cast<std::uint32_t>(nr_modules);
    si.modlist_paddr = p.modlist_gpa;
    si.cmdline_paddr = p.cmdline_gpa;
    si.rsdp_paddr = 0;                    // no ACPI tables for a kxen PVH guest
    si.memmap_paddr = p.memmap_gpa;
    si.memmap_entries = static_cast<std::uint32_t>(memmap.size());
    put(p.bytes, 0, si);

    for (std::size_t i = 0; i < memmap.size(); ++i)
        put(p.bytes, o.memmap + i * sizeof(hvm_memmap_table_entry), memmap[i]);
    if (ramdisk) {
        hvm_modlist_entry m{};
        m.paddr = ramdisk->paddr;
        m.size = ramdisk->data.size();
        m.cmdline_paddr = 0;              // libxl passes no per-module command line
        put(p.bytes, o.modlist, m);
    }
    if (!cmdline.empty())                 // the NUL comes from the zero fill
        std::memcpy(p.bytes.data() + o.cmdline, cmdline.data(), cmdline.size());
    return p;
}

} // namespace kxen::toolstack::build
