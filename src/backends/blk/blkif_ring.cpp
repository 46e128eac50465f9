#include "backends/blk/blkif_ring.hpp"
#include <cstddef>
#include <cstring>
#include <stdint.h>   // Xen's public headers use the C integer types unqualified
#include <xen/io/blkif.h>
#include "backends/blk/blkif_x86_32.h"

namespace kxen::backends::blk {
namespace {

// io/ring.h's shared ring: four indexes, padding to 64 bytes, then the entries.
struct Header {
    std::uint32_t req_prod, req_event, rsp_prod, rsp_event;
};
constexpr std::size_t entries_offset = 64;
static_assert(offsetof(blkif_sring, ring) == entries_offset);
static_assert(__CONST_RING_SIZE(blkif, 4096) == BackRing::size);

std::uint32_t load(std::uint32_t const* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void store(std::uint32_t* p, std::uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

template <typename Req, typename Discard, typename Indirect>
Request decode(std::uint8_t const* bytes) {
    Request r;
    Req req;
    std::memcpy(&req, bytes, sizeof req);
    r.operation = req.operation;
    r.id = req.id;
    r.sector = req.sector_number;
    switch (r.operation) {
    case BLKIF_OP_DISCARD: {
        Discard d;
        std::memcpy(&d, bytes, sizeof d);
        r.nr_sectors = d.nr_sectors;
        break;
    }
    case BLKIF_OP_INDIRECT: {
        Indirect in;
        std::memcpy(&in, bytes, sizeof in);
        r.id = in.id;
        r.sector = in.sector_number;
        r.indirect_op = in.indirect_op;
        r.indirect_segments = in.nr_segments;
        std::memcpy(r.indirect_grefs.data(), in.indirect_grefs, sizeof r.indirect_grefs);
        break;
    }
    default:
        r.nr_segments = req.nr_segments;
        for (std::size_t i = 0; i < r.seg.size(); ++i)
            r.seg[i] = Segment{req.seg[i].gref, req.seg[i].first_sect, req.seg[i].last_sect};
    }
    return r;
}

template <typename Rsp> void encode(std::uint8_t* bytes, std::uint64_t id, std::uint8_t op, std::int16_t status) {
    Rsp rsp{};
    rsp.id = id;
    rsp.operation = op;
    rsp.status = status;
    std::memcpy(bytes, &rsp, sizeof rsp);
}

} // namespace

std::optional<Abi> abi_from_protocol(std::optional<std::string_view> protocol) {
    if (!protocol || protocol->empty() || *protocol == "x86_64-abi") return Abi::native;
    if (*protocol == "x86_32-abi") return Abi::x86_32;
    return std::nullopt;
}

BackRing::BackRing(void* page, Abi abi) : page_{static_cast<std::uint8_t*>(page)}, abi_{abi} {
    req_cons_ = rsp_prod_pvt_ = load(&reinterpret_cast<Header*>(page_)->rsp_prod);
}

std::uint8_t* BackRing::slot(std::uint32_t idx) const {
    std::size_t const entry = abi_ == Abi::native ? sizeof(union blkif_sring_entry) : 108;
    return page_ + entries_offset + (idx % size) * entry;
}

std::optional<std::uint32_t> BackRing::unconsumed() const {
    auto* h = reinterpret_cast<Header*>(page_);
    std::uint32_t const prod = load(&h->req_prod);
    std::uint32_t const n = prod - req_cons_;
    // Slots still holding unanswered requests are the frontend's; it may not reuse them.
    if (n > size - (req_cons_ - rsp_prod_pvt_)) return std::nullopt;
    return n;
}

Request BackRing::take() {
    auto const* s = slot(req_cons_++);
    if (abi_ == Abi::native) return decode<blkif_request, blkif_request_discard, blkif_request_indirect>(s);
    return decode<blkif_x86_32_request, blkif_x86_32_request_discard, blkif_x86_32_request_indirect>(s);
}

void BackRing::respond(std::uint64_t id, std::uint8_t operation, std::int16_t status) {
    auto* s = slot(rsp_prod_pvt_++);
    if (abi_ == Abi::native) encode<blkif_response>(s, id, operation, status);
    else encode<blkif_x86_32_response>(s, id, operation, status);
}

bool BackRing::push_responses() {
    auto* h = reinterpret_cast<Header*>(page_);
    std::uint32_t const old = load(&h->rsp_prod);
    std::uint32_t const now = rsp_prod_pvt_;
    store(&h->rsp_prod, now);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    std::uint32_t const event = load(&h->rsp_event);
    return static_cast<std::uint32_t>(now - event) < static_cast<std::uint32_t>(now - old);
}

bool BackRing::final_check_for_requests() {
    auto* h = reinterpret_cast<Header*>(page_);
    if (load(&h->req_prod) != req_cons_) return true;
    store(&h->req_event, req_cons_ + 1);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return load(&h->req_prod) != req_cons_;
}

} // namespace kxen::backends::blk
