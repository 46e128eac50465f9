#include "boot_info.hpp"

#include "lib.hpp"

extern "C" uint64_t start_info_paddr;  // boot.S saved EBX here

namespace minios::boot_info {

constinit Info info{};

void init() {
    info.start_info_paddr = start_info_paddr;
    // SAFETY: identity map; the loader guarantees start_info is in guest memory.
    auto* si = reinterpret_cast<const hvm_start_info*>(start_info_paddr);
    if (!si || si->magic != XEN_HVM_START_MAGIC_VALUE) return;
    info.version = si->version;
    if (si->cmdline_paddr) {
        auto* s = reinterpret_cast<const char*>(si->cmdline_paddr);
        size_t n = lib::strnlen(s, sizeof(info.cmdline) - 1);
        memcpy(info.cmdline, s, n);
    }
    if (si->version >= 1 && si->memmap_paddr) {
        auto* m = reinterpret_cast<const hvm_memmap_table_entry*>(si->memmap_paddr);
        info.memmap_entries = si->memmap_entries < lib::size(info.memmap) ? si->memmap_entries
                                                                          : uint32_t(lib::size(info.memmap));
        memcpy(info.memmap, m, info.memmap_entries * sizeof(*m));
    }
    for (uint32_t i = 0; i < info.memmap_entries; ++i) {
        auto const& e = info.memmap[i];
        if (e.type != XEN_HVM_MEMMAP_TYPE_RAM) continue;
        info.ram_bytes += e.size;
        if (e.addr + e.size > info.ram_top) info.ram_top = e.addr + e.size;
    }
}

}  // namespace minios::boot_info
