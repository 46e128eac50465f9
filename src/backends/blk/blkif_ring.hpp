// The backend's side of one blkif ring (io/blkif.h, io/ring.h) in either ABI a frontend may
// speak: requests are copied out of the shared page once and decoded, so a frontend that
// rewrites a slot while we read it changes nothing we act on; responses go back in its layout.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace kxen::backends::blk {

enum class Abi { native, x86_32 };
// The frontend's "protocol" node: absent or "x86_64-abi" is native; "x86_32-abi" is the
// 32-bit layout; anything else is refused.
std::optional<Abi> abi_from_protocol(std::optional<std::string_view> protocol);

struct Segment {
    std::uint32_t gref;
    std::uint8_t first_sect, last_sect;
};

// One request as read from the ring, before any check of its contents.
struct Request {
    std::uint8_t operation = 0;
    std::uint64_t id = 0;
    std::uint64_t sector = 0;
    std::uint8_t nr_segments = 0;                   // BLKIF_OP_READ/WRITE/FLUSH
    std::array<Segment, 11> seg{};
    std::uint64_t nr_sectors = 0;                   // BLKIF_OP_DISCARD
    std::uint8_t indirect_op = 0;                   // BLKIF_OP_INDIRECT
    std::uint16_t indirect_segments = 0;
    std::array<std::uint32_t, 8> indirect_grefs{};
};

class BackRing {
public:
    static constexpr std::uint32_t size = 32;   // entries in one page, either ABI

    // Takes up where the responses published on the page end: 0 on a ring the frontend just
    // set up, and for a backend restarted under a running frontend, the requests its
    // predecessor took but never answered, which are then done again (a repeated read or
    // write of the same pages changes nothing the frontend was told).
    BackRing(void* page, Abi abi);

    // Requests the frontend has produced and we have not taken; nullopt if its producer index
    // is more than a ring ahead of what we answered (a broken or hostile frontend).
    [[nodiscard]] std::optional<std::uint32_t> unconsumed() const;
    Request take();   // the next request; only after unconsumed() said there is one
    void respond(std::uint64_t id, std::uint8_t operation, std::int16_t status);
    // Publishes responses; true if the frontend asked to be notified of them.
    bool push_responses();
    // RING_FINAL_CHECK_FOR_REQUESTS: re-arms req_event; true if more arrived meanwhile.
    bool final_check_for_requests();

private:
    std::uint8_t* slot(std::uint32_t idx) const;
    std::uint8_t* page_;
    Abi abi_;
    std::uint32_t req_cons_ = 0;
    std::uint32_t rsp_prod_pvt_ = 0;
};

} // namespace kxen::backends::blk
