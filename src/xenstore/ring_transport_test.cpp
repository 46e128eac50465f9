// A guest talking through its ring page (in plain memory here), including hostile ones.
#include <gtest/gtest.h>
#include "xenstore/ring_transport.hpp"
#include "xenstore/test_support.hpp"

namespace kxen::xenstore::test {
namespace {

struct Rig {
    Ports ports;
    Server server{Config{}, ports.factory()};
    Client tool{server};

    Guest introduce(DomId id) {
        auto r = tool.call(XS_INTRODUCE, args(std::to_string(id), "1", "9"));
        EXPECT_TRUE(r.ok()) << r.error();
        tool.mkdir(domain_path(id));
        tool.set_perms(domain_path(id), "n" + std::to_string(id));
        return Guest{ports.pages[id]};
    }
    void kick(DomId id) {   // the guest notified its event channel
        if (auto* d = server.domains().find(id); d && d->conn) server.service(*d->conn);
        server.flush();
    }
    // Sends a whole request (in pieces if it is bigger than the ring) and collects replies.
    std::vector<Reply> exchange(Guest& g, DomId id, std::string const& bytes) {
        std::string rx;
        std::size_t sent = 0;
        for (int i = 0; i < 1000 && sent < bytes.size(); ++i) {
            sent += g.put(std::string_view{bytes}.substr(sent));
            kick(id);
            rx += g.take();
        }
        for (int i = 0; i < 4; ++i) {
            kick(id);
            rx += g.take();
        }
        return parse_messages(rx);
    }
};

TEST(Ring, RequestsAndRepliesGoThroughTheRing) {
    Rig rig;
    Guest g = rig.introduce(3);
    auto& page = g.page();
    EXPECT_EQ(page.server_features,
              unsigned{XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR});
    auto out = rig.exchange(g, 3, request(XS_WRITE, 1, 0, std::string("name\0guest", 10)) +
                                      request(XS_READ, 2, 0, args("name")));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].body, args("OK"));
    EXPECT_EQ(out[1].req_id, 2u);
    EXPECT_EQ(out[1].body, "guest");
    EXPECT_EQ(rig.tool.read("/local/domain/3/name").body, "guest");
    EXPECT_GT(rig.ports.pages[3]->notifications, 0);
}

TEST(Ring, MessagesLargerThanTheRingAndIndexWrapAround) {
    Rig rig;
    Guest g = rig.introduce(3);
    // Start near the top of the index space, so that the free-running indexes wrap.
    auto& p = g.page();
    p.req_cons = p.req_prod = p.rsp_cons = p.rsp_prod = 0xFFFFFF00u;
    std::string value(2000, 'v');   // > the ring, < the node-size quota
    auto out = rig.exchange(g, 3, request(XS_WRITE, 1, 0, "big" + std::string(1, '\0') + value) +
                                      request(XS_READ, 2, 0, args("big")));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].body, value);
    EXPECT_LT(p.req_prod, 0x1000u);   // wrapped
}

TEST(Ring, WatchEventsReachTheGuest) {
    Rig rig;
    Guest g = rig.introduce(3);
    auto out = rig.exchange(g, 3, request(XS_WATCH, 1, 0, args("dev", "tok")));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].type, unsigned{XS_WATCH_EVENT});
    EXPECT_EQ(split(out[1].body), (std::vector<std::string>{"dev", "tok"}));
    rig.tool.write("/local/domain/3/dev/x", "1");
    out = rig.exchange(g, 3, "");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(split(out[0].body), (std::vector<std::string>{"dev/x", "tok"}));
}

TEST(Ring, ProducerTooFarAheadDropsOnlyThatConnection) {
    Rig rig;
    Guest bad = rig.introduce(3);
    Guest good = rig.introduce(4);
    rig.tool.write("/keep", "1");
    bad.page().req_prod = bad.page().req_cons + XENSTORE_RING_SIZE + 1;
    rig.kick(3);
    EXPECT_EQ(bad.page().error, unsigned{XENSTORE_ERROR_RINGIDX});
    Connection* c = rig.server.domains().find(3)->conn;
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(c->dead);
    // The store and everyone else carry on.
    EXPECT_EQ(rig.tool.read("/keep").body, "1");
    auto out = rig.exchange(good, 4, request(XS_READ, 1, 0, args("/local/domain/4")));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_TRUE(out[0].ok());
    EXPECT_EQ(rig.tool.call(XS_IS_DOMAIN_INTRODUCED, args("3")).body, std::string("T\0", 2));
    // Release cleans up the ignored connection.
    EXPECT_TRUE(rig.tool.call(XS_RELEASE, args("3")).ok());
}

TEST(Ring, CorruptResponseIndexesDropTheConnection) {
    Rig rig;
    Guest bad = rig.introduce(3);
    bad.page().rsp_cons = bad.page().rsp_prod + 5;   // consumer ahead of producer
    bad.put(request(XS_READ, 1, 0, args("x")));
    rig.kick(3);
    EXPECT_TRUE(rig.server.domains().find(3)->conn->dead);
    EXPECT_EQ(bad.page().error, unsigned{XENSTORE_ERROR_RINGIDX});
    EXPECT_TRUE(rig.tool.read("/local/domain/3").ok());
}

TEST(Ring, OversizedPayloadIsAProtocolError) {
    Rig rig;
    Guest bad = rig.introduce(3);
    MsgHeader h{XS_WRITE, 1, 0, XENSTORE_PAYLOAD_MAX + 1};
    bad.put(std::string_view{reinterpret_cast<char const*>(&h), sizeof h});
    rig.kick(3);
    EXPECT_EQ(bad.page().error, unsigned{XENSTORE_ERROR_PROTO});
    EXPECT_TRUE(rig.server.domains().find(3)->conn->dead);
}

TEST(Ring, RandomGarbageNeverHurtsTheStore) {
    Rig rig;
    rig.tool.write("/keep", "1");
    std::uint32_t seed = 12345;
    auto rnd = [&] { seed = seed * 1103515245u + 12345u; return seed >> 8; };
    for (DomId id = 10; id < 40; ++id) {
        Guest g = rig.introduce(id);
        for (int round = 0; round < 20; ++round) {
            std::string junk(rnd() % 200, '\0');
            for (auto& ch : junk) ch = static_cast<char>(rnd());
            if (round % 5 == 0) {   // sometimes a well-framed message of any type
                junk = request(rnd() % 40, rnd(), rnd() % 3, junk.substr(0, junk.size() / 2));
            }
            g.put(junk);
            if (round % 7 == 3) g.page().req_prod += rnd() % 3000;
            if (round % 11 == 5) g.page().rsp_cons = rnd();
            rig.kick(id);
            g.take();
        }
    }
    EXPECT_EQ(rig.tool.read("/keep").body, "1");
    EXPECT_TRUE(rig.tool.write("/after", "ok").ok());
}

TEST(Ring, OutstandingRepliesThrottleTheGuest) {
    Rig rig;
    Guest g = rig.introduce(3);
    rig.tool.write("/local/domain/3/v", std::string(200, 'v'));
    // 300 reads, and the guest does not take the replies: once they fill the ring and 20
    // more (the quota) wait, the server stops consuming requests.
    std::string reqs;
    for (std::uint32_t i = 0; i < 300; ++i) reqs += request(XS_READ, i, 0, args("v"));
    std::size_t sent = 0;
    for (int i = 0; i < 50; ++i) {
        sent += g.put(std::string_view{reqs}.substr(sent));
        rig.kick(3);
    }
    Connection* c = rig.server.domains().find(3)->conn;
    EXPECT_EQ(c->outstanding(), rig.server.config().quotas.outstanding);
    EXPECT_LT(sent, reqs.size());
    // Once it reads, everything is answered.
    std::string rx;
    for (int i = 0; i < 2000 && sent < reqs.size(); ++i) {
        rx += g.take();
        sent += g.put(std::string_view{reqs}.substr(sent));
        rig.kick(3);
    }
    for (int i = 0; i < 50; ++i) {
        rx += g.take();
        rig.kick(3);
    }
    auto replies = parse_messages(rx);
    ASSERT_EQ(replies.size(), 300u);
    for (std::uint32_t i = 0; i < 300; ++i) EXPECT_EQ(replies[i].req_id, i);
}

TEST(Ring, ReconnectRequestIsAcknowledgedOnIntroduce) {
    Ports ports;
    ports.pages[8] = std::make_shared<MemoryPort::Shared>();
    ports.pages[8]->page.connection = XENSTORE_RECONNECT;
    Server s{Config{}, ports.factory()};
    Client tool{s};
    EXPECT_TRUE(tool.call(XS_INTRODUCE, args("8", "1", "2")).ok());
    EXPECT_EQ(ports.pages[8]->page.connection, unsigned{XENSTORE_CONNECTED});
}

} // namespace
} // namespace kxen::xenstore::test
