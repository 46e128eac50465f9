// minios::boot_info: what the loader told us in struct hvm_start_info (EBX at
// entry), copied out once so nothing later depends on where the loader put it.
#pragma once
#include <stdint.h>

#include "xen_abi.hpp"

namespace minios::boot_info {

struct Info {
    uint64_t start_info_paddr;
    uint32_t version;       // 0 when the magic did not match
    uint32_t memmap_entries;
    hvm_memmap_table_entry memmap[32];
    uint64_t ram_bytes;     // sum of XEN_HVM_MEMMAP_TYPE_RAM entries
    uint64_t ram_top;       // end of the highest RAM entry
    char cmdline[1024];
};
extern constinit Info info;

// Needs the identity map (paging::init) first.
void init();

}  // namespace minios::boot_info
