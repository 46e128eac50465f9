// The PV console page (io/console.h) as kxen-backend drains and fills it, with a guest that
// writes whatever it likes into the page between the backend's turns: ring bytes and all
// four indexes. The input is a list of steps, each one opcode byte and its operands:
//   0  the guest writes bytes to out[] and advances out_prod (u8 length, bytes)
//   1  the guest sets out_cons, out_prod (u32 each)
//   2  the guest sets in_cons, in_prod (u32 each)
//   3  the backend takes the guest's output
//   4  the backend queues input for the guest (u16 length, bytes)
//   5  the guest consumes input (u8 count)
//   6  the guest scribbles over the page (u16 offset, u8 length, bytes)
// The backend must never read or write outside the page and must leave the indexes sane.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include "backends/console/console_ring.hpp"
#include "fuzz_input.hpp"

using kxen::backends::ConsoleRing;

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    kxen::fuzz::Input in{data, size};
    // Its own allocation, exactly the interface's size, so ASan catches any step outside it.
    auto page = std::make_unique<xencons_interface>();
    ConsoleRing ring{page.get()};
    auto& p = *page;
    for (int step = 0; step < 4096 && !in.empty(); ++step) {
        switch (in.u8() % 7) {
        case 0: {
            auto b = in.bytes(in.u8());
            for (auto ch : b) p.out[MASK_XENCONS_IDX(p.out_prod++, p.out)] = static_cast<char>(ch);
            break;
        }
        case 1:
            p.out_cons = in.u32();
            p.out_prod = in.u32();
            break;
        case 2:
            p.in_cons = in.u32();
            p.in_prod = in.u32();
            break;
        case 3: {
            bool corrupt = false;
            XENCONS_RING_IDX const prod = p.out_prod;
            auto out = ring.take_output(corrupt);
            if (out.size() > sizeof p.out) std::abort();
            if (p.out_cons != prod) std::abort();   // everything taken, or a corrupt ring reset
            break;
        }
        case 4: {
            auto s = in.str(in.u16() % 4096);
            auto n = ring.put_input(s);
            if (n > s.size() || p.in_prod - p.in_cons > sizeof p.in) std::abort();
            break;
        }
        case 5: {
            auto n = in.u8();
            if (p.in_prod - p.in_cons >= n) p.in_cons += n;
            break;
        }
        default: {
            auto off = in.u16() % sizeof p;
            auto b = in.bytes(std::min<std::size_t>(in.u8(), sizeof p - off));
            std::memcpy(reinterpret_cast<char*>(&p) + off, b.data(), b.size());
            break;
        }
        }
    }
    return 0;
}
