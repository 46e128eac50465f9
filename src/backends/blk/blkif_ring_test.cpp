// The backend's ring against frontends it cannot trust: indexes, layouts and slot contents.
#include "backends/blk/blkif_ring.hpp"
#include <gtest/gtest.h>
#include <cstring>
#include <stdint.h>
#include <xen/io/blkif.h>
#include "backends/blk/blkif_x86_32.h"

namespace kxen::backends::blk {
namespace {

struct Page {
    alignas(4096) std::uint8_t bytes[4096]{};
    std::uint32_t& req_prod() { return *reinterpret_cast<std::uint32_t*>(bytes); }
    std::uint32_t& rsp_prod() { return *reinterpret_cast<std::uint32_t*>(bytes + 8); }
    std::uint32_t& rsp_event() { return *reinterpret_cast<std::uint32_t*>(bytes + 12); }
};

TEST(BlkifRing, ProtocolNamesPickTheLayout) {
    EXPECT_EQ(abi_from_protocol(std::nullopt), Abi::native);
    EXPECT_EQ(abi_from_protocol("x86_64-abi"), Abi::native);
    EXPECT_EQ(abi_from_protocol("x86_32-abi"), Abi::x86_32);
    EXPECT_FALSE(abi_from_protocol("arm-abi"));
}

TEST(BlkifRing, NativeRequestsAreDecodedAndAnswered) {
    Page p;
    blkif_request r{};
    r.operation = BLKIF_OP_WRITE;
    r.nr_segments = 2;
    r.id = 0x1122334455667788ull;
    r.sector_number = 99;
    r.seg[1] = {7, 1, 6};
    std::memcpy(p.bytes + 64, &r, sizeof r);
    p.req_prod() = 1;
    p.rsp_event() = 1;
    BackRing ring{p.bytes, Abi::native};
    ASSERT_EQ(ring.unconsumed(), 1u);
    auto got = ring.take();
    EXPECT_EQ(got.operation, BLKIF_OP_WRITE);
    EXPECT_EQ(got.id, r.id);
    EXPECT_EQ(got.sector, 99u);
    EXPECT_EQ(got.nr_segments, 2);
    EXPECT_EQ(got.seg[1].gref, 7u);
    EXPECT_EQ(got.seg[1].last_sect, 6);
    ring.respond(got.id, got.operation, BLKIF_RSP_ERROR);
    EXPECT_TRUE(ring.push_responses());   // rsp_event 1 asked for a notification
    EXPECT_EQ(p.rsp_prod(), 1u);
    blkif_response rsp;
    std::memcpy(&rsp, p.bytes + 64, sizeof rsp);
    EXPECT_EQ(rsp.id, r.id);
    EXPECT_EQ(rsp.status, BLKIF_RSP_ERROR);
    EXPECT_FALSE(ring.final_check_for_requests());
}

// A 32-bit frontend's entries are 108 bytes, its id 4 bytes earlier: the second slot is where
// its layout puts it.
TEST(BlkifRing, X86_32RequestsUseTheirOwnLayout) {
    Page p;
    blkif_x86_32_request r{};
    r.operation = BLKIF_OP_READ;
    r.nr_segments = 1;
    r.id = 0xabcdef0123ull;
    r.sector_number = 5;
    r.seg[0] = {3, 0, 7};
    std::memcpy(p.bytes + 64 + 108, &r, sizeof r);
    p.req_prod() = 2;
    BackRing ring{p.bytes, Abi::x86_32};
    ASSERT_EQ(ring.unconsumed(), 2u);
    (void)ring.take();
    auto got = ring.take();
    EXPECT_EQ(got.id, 0xabcdef0123ull);
    EXPECT_EQ(got.sector, 5u);
    EXPECT_EQ(got.seg[0].gref, 3u);
    ring.respond(1, 0, 0);
    ring.respond(got.id, got.operation, BLKIF_RSP_OKAY);
    (void)ring.push_responses();
    blkif_x86_32_response rsp;
    std::memcpy(&rsp, p.bytes + 64 + 108, sizeof rsp);
    EXPECT_EQ(rsp.id, 0xabcdef0123ull);
    EXPECT_EQ(rsp.status, BLKIF_RSP_OKAY);
}

TEST(BlkifRing, AProducerIndexPastTheRingIsRefused) {
    Page p;
    BackRing ring{p.bytes, Abi::native};
    p.req_prod() = BackRing::size + 1;
    EXPECT_FALSE(ring.unconsumed());
    p.req_prod() = 0xfffffff0u;   // "behind" us: as far ahead, modulo 2^32
    EXPECT_FALSE(ring.unconsumed());
    p.req_prod() = BackRing::size;
    EXPECT_EQ(ring.unconsumed(), BackRing::size);
}

// A backend restarted under a running frontend: the ring is past index 0, and what the dead
// backend took without answering (here slots 1000 and 1001) is taken again.
TEST(BlkifRing, ARestartedBackendGoesOnFromTheLastPublishedResponse) {
    Page p;
    p.rsp_prod() = 1000;
    p.req_prod() = 1002;
    for (std::uint32_t i = 1000; i < 1002; ++i) {
        blkif_request r{};
        r.operation = BLKIF_OP_READ;
        r.id = i;
        std::memcpy(p.bytes + 64 + (i % BackRing::size) * sizeof(union blkif_sring_entry), &r, sizeof r);
    }
    BackRing ring{p.bytes, Abi::native};
    ASSERT_EQ(ring.unconsumed(), 2u);
    EXPECT_EQ(ring.take().id, 1000u);
    EXPECT_EQ(ring.take().id, 1001u);
    ring.respond(1000, BLKIF_OP_READ, BLKIF_RSP_OKAY);
    ring.respond(1001, BLKIF_OP_READ, BLKIF_RSP_OKAY);
    (void)ring.push_responses();
    EXPECT_EQ(p.rsp_prod(), 1002u);
    p.req_prod() = 1002 + BackRing::size + 1;
    EXPECT_FALSE(ring.unconsumed());
}

} // namespace
} // namespace kxen::backends::blk
