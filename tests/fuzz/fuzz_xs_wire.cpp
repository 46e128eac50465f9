// kxenstored's request path as socket clients drive it: wire framing, every XS_* operation
// (nodes, permissions, transactions, watches, domain introduction, XS_CONTROL), quotas, the
// congestion and protocol-error paths. A real Server with three in-memory connections:
//   0 and 1  dom0 tools on the socket (privileged; two of them so watches fire across)
//   2        domain 1 without privilege (as a guest's connection is), owning /local/domain/1
// The first byte sets the transports and limits:
//   bits 0-1  bytes per read: all, 1, 5, 100 (requests arrive in pieces)
//   bit 2     the clients take 17 bytes per write (slow readers: output backs up)
//   bit 3     tiny quotas (nodes, watches, transactions, node size, outstanding)
//   bit 4     congestion at 64 bytes of unread output
// Then chunks: u8 connection (0-2; 3 closes connection u8 % 3), u16 length, that many bytes
// of wire data for it. Between chunks the server runs as the event loop would.
// Checked: every message the server sends is well framed and no longer than the wire allows.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include "common/log.hpp"
#include "fuzz_input.hpp"
#include "xenstore/server.hpp"
#include "xenstore/test_support.hpp"

using namespace kxen::xenstore;
using namespace kxen::xenstore::test;

namespace {

struct Peer {
    std::shared_ptr<Pipe> pipe = std::make_shared<Pipe>();
    std::uint64_t serial = 0;
    std::string rx;   // what the server sent, not yet parsed
};

void check_output(Peer& p) {
    p.rx += p.pipe->from_server;
    p.pipe->from_server.clear();
    std::size_t off = 0;
    while (p.rx.size() - off >= header_size) {
        MsgHeader h = decode_header(p.rx.data() + off);
        if (h.len > XENSTORE_PAYLOAD_MAX) std::abort();
        if (p.rx.size() - off < header_size + h.len) break;
        off += header_size + h.len;
    }
    p.rx.erase(0, off);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    kxen::log::set_min_level(kxen::log::Level::error);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    kxen::fuzz::Input in{data, size};
    std::uint8_t const flags = in.u8();
    Config cfg;
    if (flags & 8) {
        cfg.quotas.nodes = 4;
        cfg.quotas.watches = 2;
        cfg.quotas.transactions = 2;
        cfg.quotas.node_size = 64;
        cfg.quotas.outstanding = 2;
        cfg.quotas.node_permissions = 2;
    }
    if (flags & 16) cfg.congested_bytes = 64;
    Ports ports;
    Server server{cfg, ports.factory()};

    constexpr std::size_t read_limits[] = {SIZE_MAX, 1, 5, 100};
    Peer peers[3];
    Identity const who[3] = {{0, true, {}}, {0, true, {}}, {1, false, {}}};
    for (int i = 0; i < 3; ++i) {
        peers[i].serial = server.connect(std::make_unique<MemoryTransport>(peers[i].pipe), who[i]).serial();
    }
    // Domain 1's home, as the toolstack makes it, so that its connection has somewhere to write.
    peers[0].pipe->to_server = request(XS_MKDIR, 1, 0, args("/local/domain/1")) +
                               request(XS_SET_PERMS, 2, 0, args("/local/domain/1", "n1"));
    // The event loop's part: a connection is served when its peer sent something or hung up,
    // while it has output the peer may now take, or when the server has work left over.
    auto run = [&] {
        for (int round = 0; round < 8; ++round) {
            bool any = false;
            bool const leftover = server.has_pending_work();   // input read but not yet processed
            for (auto& p : peers) {
                Connection* c = server.find(p.serial);
                if (!c || c->dead) continue;
                if (!leftover && p.pipe->to_server.empty() && !p.pipe->closed && !server.wants_write(*c))
                    continue;
                server.service(*c);
                any = true;
            }
            server.flush();
            for (auto& p : peers) check_output(p);
            if (!any && !server.has_pending_work()) break;
        }
    };
    run();
    for (auto& p : peers) {
        p.pipe->read_limit = read_limits[flags & 3];
        if (flags & 4) p.pipe->write_limit = 17;
    }

    while (!in.empty()) {
        std::uint8_t const target = in.u8() % 4;
        if (target == 3) {
            peers[in.u8() % 3].pipe->closed = true;
        } else {
            auto bytes = in.str(in.u16());
            peers[target].pipe->to_server.append(bytes);
        }
        run();
    }
    for (auto& p : peers) p.pipe->closed = true;
    run();
    return 0;
}
