// Per-connection limits and fairness: unread watch events and output (bookkeeping counted),
// the cap on socket clients, turns bounded by the work they do.
#include <gtest/gtest.h>
#include "xenstore/test_support.hpp"

namespace kxen::xenstore::test {
namespace {

std::string write_req(std::uint32_t id, std::string_view path, std::string_view value) {
    std::string p{path};
    p.push_back('\0');
    p.append(value);
    return request(XS_WRITE, id, 0, p);
}

std::size_t replies_in(Pipe& p) {
    std::string copy = p.from_server;
    return parse_messages(copy).size();
}

TEST(Limits, UnreadWatchEventsPastTheLimitDropASocketClient) {
    Config cfg;
    cfg.max_watch_events = 100;
    Server s{cfg};
    Client good{s}, w{s};
    w.watch("/f", "t");
    w.pipe().write_limit = 0;   // never reads again
    std::size_t most = 0;
    int i = 0;
    for (; i < 300 && s.find(w.serial()); ++i) {
        good.write("/f/n" + std::to_string(i), "v");
        if (auto* c = s.find(w.serial())) most = std::max(most, c->events_queued());
    }
    EXPECT_EQ(s.find(w.serial()), nullptr);
    EXPECT_LE(most, 100u);
    EXPECT_GE(i, 99);
    EXPECT_EQ(good.read("/f/n0").body, "v");
}

TEST(Limits, IdenticalQueuedEventsCountOnce) {
    Config cfg;
    cfg.max_watch_events = 4;
    Server s{cfg};
    Client good{s}, w{s};
    w.watch("/f", "t");
    w.events();
    w.pipe().write_limit = 0;
    for (int i = 0; i < 100; ++i) good.write("/f/same", std::to_string(i));
    ASSERT_NE(s.find(w.serial()), nullptr);
    EXPECT_EQ(s.find(w.serial())->events_queued(), 1u);
    w.pipe().write_limit = SIZE_MAX;
    w.run();
    EXPECT_EQ(w.events(), (std::vector<std::pair<std::string, std::string>>{{"/f/same", "t"}}));
}

TEST(Limits, OutputMemoryPastTheLimitDropsASocketClient) {
    Config cfg;
    cfg.max_output_bytes = 64 * 1024;
    Server s{cfg};
    Client good{s}, w{s};
    w.watch("/f", "t");
    w.pipe().write_limit = 0;
    std::string dir = "/f/" + std::string(1000, 'd') + "/";
    std::size_t most = 0;
    for (int i = 0; i < 200 && s.find(w.serial()); ++i) {
        good.write(dir + std::to_string(i), "v");
        if (auto* c = s.find(w.serial())) most = std::max(most, c->out_memory());
    }
    EXPECT_EQ(s.find(w.serial()), nullptr);
    EXPECT_LE(most, 64u * 1024);
}

struct GuestRig {
    Ports ports;
    Server server;
    Client tool{server};
    explicit GuestRig(Config cfg) : server{std::move(cfg), ports.factory()} {}

    Guest introduce(DomId id) {
        EXPECT_TRUE(tool.call(XS_INTRODUCE, args(std::to_string(id), "1", "9")).ok());
        tool.mkdir(domain_path(id));
        tool.set_perms(domain_path(id), "n" + std::to_string(id));
        return Guest{ports.pages[id]};
    }
    Connection* conn(DomId id) { return server.domains().find(id)->conn; }
    void kick(DomId id) {
        server.service(*conn(id));
        server.flush();
    }
};

TEST(Limits, AGuestsEventsPastTheLimitAreDiscardedAndItStaysConnected) {
    Config cfg;
    cfg.max_watch_events = 5;
    GuestRig rig{cfg};
    Guest g = rig.introduce(3);
    g.put(request(XS_WATCH, 1, 0, args("dev", "tok")));
    rig.kick(3);
    std::string rx = g.take();   // the ack and the first event
    // 200 events of ~1 KiB: the ring holds one, the queue five; the rest are lost.
    std::string name(1000, 'n');
    for (int i = 0; i < 200; ++i)
        rig.tool.write("/local/domain/3/dev/" + name + std::to_string(i), "1");
    Connection* c = rig.conn(3);
    EXPECT_FALSE(c->dead);
    EXPECT_LE(c->events_queued(), 5u);
    for (int i = 0; i < 20; ++i) {
        rx += g.take();
        rig.kick(3);
    }
    auto got = parse_messages(rx);
    EXPECT_LT(got.size(), 20u);
    // Once it has read them, events reach it again.
    rig.tool.write("/local/domain/3/dev/later", "1");
    rig.kick(3);
    rx = g.take();
    auto later = parse_messages(rx);
    ASSERT_EQ(later.size(), 1u);
    EXPECT_EQ(split(later[0].body), (std::vector<std::string>{"dev/later", "tok"}));
}

TEST(Limits, UnreadRepliesAreCappedWithTheirBookkeeping) {
    Config cfg;
    cfg.congested_bytes = 64 * 1024;
    Server s{cfg};
    Client tool{s}, r{s};
    tool.write("/v", std::string(100, 'v'));
    r.pipe().write_limit = 0;
    std::string reqs;
    for (std::uint32_t i = 0; i < 20000; ++i) reqs += request(XS_READ, i, 0, args("/v"));
    r.send_raw(reqs);
    for (int i = 0; i < 100; ++i) r.run();
    Connection* c = s.find(r.serial());
    ASSERT_NE(c, nullptr);
    EXPECT_FALSE(s.wants_read(*c));
    EXPECT_FALSE(r.pipe().to_server.empty());   // the rest of its requests wait, unread
    EXPECT_LE(c->out_memory(), 64u * 1024);
    EXPECT_GT(c->out_memory(), 16u * 1024);
    // The bookkeeping is counted: more than the bytes themselves.
    EXPECT_GT(c->out_memory(), c->out_bytes() + c->outstanding() * 16);
    // When it reads, everything is answered and the buffers go back.
    r.pipe().write_limit = SIZE_MAX;
    for (int i = 0; i < 200 && !r.pipe().to_server.empty(); ++i) r.run();
    r.run();
    EXPECT_EQ(r.replies().size(), 20000u);
    EXPECT_LT(s.find(r.serial())->out_memory(), 64u * 1024);
    EXPECT_GT(s.take_freed(), 0u);
}

TEST(Limits, SocketClientsAreCapped) {
    Config cfg;
    cfg.max_connections = 3;
    Server s{cfg};
    auto a = std::make_unique<Client>(s);
    Client b{s}, c{s};
    EXPECT_FALSE(s.accepting());
    a->pipe().closed = true;
    a->run();
    EXPECT_TRUE(s.accepting());
    Client d{s};
    EXPECT_FALSE(s.accepting());
    EXPECT_TRUE(d.read("/").ok());
}

TEST(Limits, ATurnIsAFewRequestsAndEveryoneGetsOne) {
    Config cfg;
    cfg.turn_requests = 4;
    Server s{cfg};
    Client a{s}, b{s};
    std::string reqs;
    for (std::uint32_t i = 0; i < 100; ++i) reqs += write_req(i, "/a" + std::to_string(i), "v");
    a.pipe().to_server = reqs;
    b.pipe().to_server = request(XS_READ, 1, 0, args("/"));
    s.service(*a.conn());
    s.service(*b.conn());
    EXPECT_EQ(replies_in(a.pipe()), 4u);
    EXPECT_EQ(replies_in(b.pipe()), 1u);
    s.flush();   // the next round: a's turn again, by itself
    EXPECT_EQ(replies_in(a.pipe()), 8u);
    for (int i = 0; i < 100 && s.has_pending_work(); ++i) s.flush();
    EXPECT_EQ(replies_in(a.pipe()), 100u);
}

TEST(Limits, FanOutIsPaidForWithLaterTurns) {
    Config cfg;
    cfg.turn_bytes = 1024;
    Server s{cfg};
    Client w{s}, a{s}, b{s};
    for (int i = 0; i < 50; ++i) w.watch("/f", "t" + std::to_string(i));   // ~1.3 KB per write
    w.events();
    std::string reqs;
    for (std::uint32_t i = 0; i < 10; ++i) reqs += write_req(i, "/f/x" + std::to_string(i), "v");
    a.pipe().to_server = reqs;
    s.service(*a.conn());
    EXPECT_EQ(replies_in(a.pipe()), 1u);   // the turn ends after the write that spent it
    ASSERT_GT(a.conn()->debt, 0u);
    EXPECT_FALSE(s.wants_read(*a.conn()));
    // b is served at once, every time, while a waits for its debt to be paid.
    for (std::uint32_t i = 0; i < 3; ++i) {
        b.pipe().to_server = request(XS_READ, i, 0, args("/"));
        s.service(*b.conn());
        EXPECT_EQ(replies_in(b.pipe()), i + 1);
    }
    for (int i = 0; i < 1000 && s.has_pending_work(); ++i) s.flush();
    EXPECT_EQ(replies_in(a.pipe()), 10u);
    EXPECT_EQ(a.conn()->debt, 0u);
    EXPECT_TRUE(s.wants_read(*a.conn()));
}

} // namespace
} // namespace kxen::xenstore::test
