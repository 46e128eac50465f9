// Why ring 3 builds the page tables: in ring 0 every store is emulated (~0.55 us);
// here the 2,560 stores run natively into fresh pages. Only the stores into live
// tables (4 PDPT entries, 1 PDE) are trapped by the host's shadow paging, plus a
// ring-0 CR3 reload after each step.
#include "paging.hpp"

#include <stdint.h>

#include "sys.hpp"

extern "C" uint64_t boot_pdpt[512];  // boot.S; boot_pml4[0] points at it

namespace minios::paging {
namespace {

constexpr uint64_t kPresentRwUser = 0x7;
constexpr uint64_t kLarge = 0x80;
constexpr uint64_t k2M = 0x200000;

alignas(4096) constinit uint64_t pd[4][512];   // one per GiB below 4 GiB
alignas(4096) constinit uint64_t pt0[512];     // 4 KiB pages for 0..2 MiB

uint64_t flush_ring0(uint64_t, uint64_t, uint64_t, uint64_t) {
    x86::write_cr3(x86::read_cr3());
    return 0;
}

}  // namespace

void init() {
    for (uint64_t i = 1; i < 512; ++i) pt0[i] = (i << 12) | kPresentRwUser;
    for (uint64_t g = 0; g < 4; ++g)
        for (uint64_t i = 0; i < 512; ++i) pd[g][i] = ((g * 512 + i) * k2M) | kLarge | kPresentRwUser;
    for (uint64_t g = 0; g < 4; ++g) boot_pdpt[g] = uint64_t(pd[g]) | kPresentRwUser;
    sys::ring0(flush_ring0);
}

void guard_null_page() {
    pd[0][0] = uint64_t(pt0) | kPresentRwUser;
    sys::ring0(flush_ring0);
}

}  // namespace minios::paging
