#include "hv/memory/ram_pool.hpp"
#include <gtest/gtest.h>
#include <cstring>

using namespace kxen::hv;

TEST(RamPool, AllocatesDisjointZeroedExtents) {
    auto pool = RamPool::create(64ull << 20);
    ASSERT_TRUE(pool) << pool.error().message();
    auto a = pool->alloc(16);
    auto b = pool->alloc(16);
    ASSERT_TRUE(a && b);
    EXPECT_GE(b->offset, a->offset + 16 * page_size);
    EXPECT_EQ(pool->allocated_pages(), 32u);
    std::memset(pool->host(a->offset), 0xab, 16 * page_size);
    pool->free(*a);
    // The next owner of those pages must not see the old domain's bytes.
    auto c = pool->alloc(16);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->offset, a->offset);
    for (std::size_t i = 0; i < 16 * page_size; i += 512) EXPECT_EQ(std::to_integer<int>(pool->host(c->offset)[i]), 0);
}

TEST(RamPool, FreedNeighboursCoalesce) {
    auto pool = RamPool::create(1ull << 20);   // 256 pages
    ASSERT_TRUE(pool);
    auto a = pool->alloc(100);
    auto b = pool->alloc(100);
    ASSERT_TRUE(a && b);
    EXPECT_FALSE(pool->alloc(100));            // only 56 left
    pool->free(*a);
    pool->free(*b);
    auto all = pool->alloc(256);
    ASSERT_TRUE(all) << "freed extents should merge back into one";
    EXPECT_FALSE(pool->alloc(1));
    EXPECT_EQ(pool->alloc(0).error().err, EINVAL);
}
