// What the block tests (blk.cpp, blk_bench.cpp, blk_attach.cpp) share: numeric options and
// the free pages above the image that their rings, buffers and segment lists come from.
#pragma once
#include <stdint.h>

#include "../boot_info.hpp"
#include "../cmdline.hpp"
#include "test.hpp"

extern "C" char _end[];

namespace minios::tests::blk_common {

constexpr uint64_t kPage = 4096;

inline uint64_t opt(const char* key, uint64_t dflt) {
    uint64_t v;
    if (!cmdline::get_u64(key, dflt, &v)) fail("bad %s=", key);
    return v;
}

// Free pages above the image, handed out once.
struct Pages {
    uint64_t next = 0, end = 0;
    void init() {
        next = (uint64_t(_end) + kPage - 1) / kPage;
        uint64_t const top = boot_info::info.ram_top;
        end = (top > (4ull << 30) ? (4ull << 30) : top) / kPage;  // paging.cpp identity-maps 0..4 GiB
    }
    uint64_t left() const { return end - next; }
    uint64_t take(uint64_t n) {
        if (n > left()) fail("out of RAM: %lu pages wanted, %lu left", n, left());
        uint64_t const g = next;
        next += n;
        return g;
    }
};

}  // namespace minios::tests::blk_common
