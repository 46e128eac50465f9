// A blkif ring page (io/blkif.h, io/ring.h) as kxen-backend's block backend serves it, with a
// frontend that writes whatever it likes into the page between the backend's turns. The input
// picks the ABI (x86_64 or x86_32 layout), then is a list of steps:
//   0  the frontend writes bytes into the page (u16 offset, u8 length, bytes)
//   1  the frontend sets req_prod (u32)
//   2  the frontend sets rsp_event (u32)
//   3  the backend serves: takes what unconsumed() allows, answers each, pushes, re-arms
// The backend must never touch memory outside the page, must stop at a producer index more
// than a ring ahead, and must never answer more requests than it took.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include "backends/blk/blkif_ring.hpp"
#include "fuzz_input.hpp"

using namespace kxen::backends::blk;

namespace {
struct alignas(4096) Page {
    std::uint8_t bytes[4096];
};
} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    kxen::fuzz::Input in{data, size};
    auto page = std::make_unique<Page>();   // its own allocation: ASan sees any step outside it
    std::memset(page->bytes, 0, sizeof page->bytes);
    auto* hdr = reinterpret_cast<std::uint32_t*>(page->bytes);
    BackRing ring{page->bytes, in.u8() & 1 ? Abi::x86_32 : Abi::native};
    std::uint64_t taken = 0, answered = 0;
    for (int step = 0; step < 1024 && !in.empty(); ++step) {
        switch (in.u8() % 4) {
        case 0: {
            auto off = in.u16() % sizeof page->bytes;
            auto b = in.bytes(std::min<std::size_t>(in.u8(), sizeof page->bytes - off));
            std::memcpy(page->bytes + off, b.data(), b.size());
            break;
        }
        case 1: hdr[0] = in.u32(); break;
        case 2: hdr[3] = in.u32(); break;
        default: {
            for (int round = 0; round < 4; ++round) {
                auto n = ring.unconsumed();
                if (!n) break;   // the backend closes the device here
                if (*n > BackRing::size) std::abort();
                for (std::uint32_t i = 0; i < *n; ++i) {
                    auto r = ring.take();
                    ++taken;
                    ring.respond(r.id, r.operation, static_cast<std::int16_t>(r.nr_segments));
                    ++answered;
                }
                (void)ring.push_responses();
                if (!ring.final_check_for_requests()) break;
            }
            if (answered != taken) std::abort();
            break;
        }
        }
    }
    return 0;
}
