// grant-pages: the guest half of bench/grant_bench.cpp. Grants the top `count` pages of
// its RAM read-write to dom0 (or peer=), fills page i with the byte (i & 0xff) so that a
// copy can be checked, prints "grant-pages: gref=<first> count=<n>" (the refs are
// consecutive) and "KXEN-TEST grant-pages RUNNING", then idles with the grants in place.
//
//   test=grant-pages count=N [peer=<domid>] [gnttab=v1|v2] [gnttab_frames=1..4]
// Nothing in minios uses the top of RAM (its image, stacks and BSS are low; the grant
// and shared_info frames are BSS pages), so those pages are free to lend.
#include "../boot_info.hpp"
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../gnttab.hpp"
#include "../lib.hpp"
#include "../sched.hpp"
#include "test.hpp"
#include "xen_common.hpp"

namespace minios::tests {

void grant_pages() {
    need_xen();
    uint64_t const count = get_count(64);
    uint64_t peer;
    if (!cmdline::get_u64("peer", 0, &peer) || peer >= DOMID_FIRST_RESERVED) fail("bad peer=");
    setup_gnttab();
    uint64_t const top = boot_info::info.ram_top >> 12;
    if (count + 256 > top) fail("count=%lu does not fit below RAM top gfn 0x%lx", count, top);
    uint64_t const first_gfn = top - count;
    long first = -1;
    for (uint64_t i = 0; i < count; ++i) {
        uint64_t const gfn = first_gfn + i;
        memset(reinterpret_cast<void*>(gfn << 12), int(i & 0xff), 4096);
        long ref = gnttab::grant_access(domid_t(peer), gfn, false);
        if (ref < 0) fail("grant_access(page %lu): %ld (%u entries)", i, ref, gnttab::nr_entries());
        if (first < 0) first = ref;
        else if (ref != first + long(i)) fail("refs not consecutive: page %lu got %ld after %ld", i, ref, first);
    }
    console::println("grant-pages: gref=%ld count=%lu gfn=0x%lx", first, count, first_gfn);
    running();
    sched::finish(sched::Done::stay);
}

}  // namespace minios::tests
