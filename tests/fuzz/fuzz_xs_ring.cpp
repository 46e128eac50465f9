// kxenstored serving a guest over its xenstore ring page (io/xs_wire.h
// xenstore_domain_interface) while the guest owns the page: request bytes, all four ring
// indexes, the connection and error fields are the fuzzer's, changed between any two of the
// server's turns. Domain 3 is introduced by a dom0 client first, as the toolstack does.
// The input is a list of steps, an opcode byte and its operands:
//   0  the guest queues request bytes as a well-behaved driver would (u16 length, bytes)
//   1  the guest sets req_cons, req_prod (u32 each)       2  ... rsp_cons, rsp_prod
//   3  the guest notifies: the server services the ring   4  the guest takes replies
//   5  the guest writes anywhere in the page (u16 offset, u8 length, bytes)
//   6  the guest sets the connection field (u32; XENSTORE_RECONNECT asks for a reset)
//   7  dom0 re-introduces, releases or resumes the domain (u8 which)
// Checked: the server never reads or writes outside the page (ASan) and never sends the guest
// more than the ring holds.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include "common/log.hpp"
#include "fuzz_input.hpp"
#include "xenstore/server.hpp"
#include "xenstore/test_support.hpp"

using namespace kxen::xenstore;
using namespace kxen::xenstore::test;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    kxen::log::set_min_level(kxen::log::Level::error);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    constexpr DomId dom = 3;
    kxen::fuzz::Input in{data, size};
    Ports ports;
    Server server{Config{}, ports.factory()};
    Client tool{server};
    tool.call(XS_INTRODUCE, args("3", "1", "9"));
    tool.mkdir("/local/domain/3");
    tool.set_perms("/local/domain/3", "n3");
    auto shared = ports.pages[dom];
    if (!shared) std::abort();
    Guest guest{shared};
    auto& page = shared->page;
    auto kick = [&] {
        if (auto* d = server.domains().find(dom); d && d->conn && !d->conn->dead) server.service(*d->conn);
        server.flush();
    };

    for (int step = 0; step < 4096 && !in.empty(); ++step) {
        switch (in.u8() % 8) {
        case 0: guest.put(in.str(in.u16())); break;
        case 1:
            page.req_cons = in.u32();
            page.req_prod = in.u32();
            break;
        case 2:
            page.rsp_cons = in.u32();
            page.rsp_prod = in.u32();
            break;
        case 3: kick(); break;
        case 4:
            if (guest.take().size() > XENSTORE_RING_SIZE) std::abort();
            break;
        case 5: {
            auto off = in.u16() % sizeof page;
            auto b = in.bytes(std::min<std::size_t>(in.u8(), sizeof page - off));
            std::memcpy(reinterpret_cast<char*>(&page) + off, b.data(), b.size());
            break;
        }
        case 6: page.connection = in.u32(); break;
        default:
            switch (in.u8() % 3) {
            case 0: tool.call(XS_INTRODUCE, args("3", "1", "9")); break;
            case 1: tool.call(XS_RELEASE, args("3")); break;
            default: tool.call(XS_RESUME, args("3")); break;
            }
            break;
        }
    }
    kick();
    return 0;
}
