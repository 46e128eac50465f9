// Requests over the wire, as Xen's clients send them, and clients that break the protocol.
#include <gtest/gtest.h>
#include "xenstore/test_support.hpp"

namespace kxen::xenstore::test {
namespace {

TEST(Protocol, ReadWriteMkdirRmDirectory) {
    Server s;
    Client c{s};
    EXPECT_EQ(c.write("/a/b", "hello").body, args("OK"));
    EXPECT_EQ(c.read("/a/b").body, "hello");
    EXPECT_EQ(c.read("/a").body, "");
    EXPECT_TRUE(c.mkdir("/a/c").ok());
    EXPECT_TRUE(c.mkdir("/a/c").ok());
    EXPECT_EQ(c.dir("/a").body, args("b", "c"));
    EXPECT_EQ(c.dir("/a/b").body, "");
    EXPECT_TRUE(c.rm("/a/b").ok());
    EXPECT_TRUE(c.rm("/a/b").ok());                 // gone already, parent there: fine
    EXPECT_EQ(c.rm("/nope/x").error(), "ENOENT");   // parent missing
    EXPECT_EQ(c.rm("/").error(), "EINVAL");
    EXPECT_EQ(c.read("/a/b").error(), "ENOENT");
    EXPECT_EQ(c.dir("/a").body, args("c"));
}

TEST(Protocol, ValuesAreBytes) {
    Server s;
    Client c{s};
    std::string v("a\0b\0\xff", 5);
    EXPECT_TRUE(c.write("/bin", v).ok());
    EXPECT_EQ(c.read("/bin").body, v);
    EXPECT_TRUE(c.write("/empty", "").ok());
    EXPECT_EQ(c.read("/empty").body, "");
}

TEST(Protocol, RepliesEchoRequestIdAndTransaction) {
    Server s;
    Client c{s};
    auto tx = c.start();
    auto r = c.read("/", tx);
    EXPECT_EQ(r.tx_id, tx);
    EXPECT_EQ(r.type, unsigned{XS_READ});
    c.send_raw(request(XS_READ, 0xabcdef, 0, args("/nonexistent")));
    auto all = c.replies();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].type, unsigned{XS_ERROR});
    EXPECT_EQ(all[0].req_id, 0xabcdefu);
    EXPECT_EQ(all[0].body, args("ENOENT"));
}

TEST(Protocol, PermissionsRoundTrip) {
    Server s;
    Client c{s};
    c.write("/p", "");
    EXPECT_EQ(c.get_perms("/p").body, args("n0"));
    EXPECT_TRUE(c.set_perms("/p", "b3", "r4", "w5").ok());
    EXPECT_EQ(c.get_perms("/p").body, args("b3", "r4", "w5"));
    c.write("/p/child", "");
    EXPECT_EQ(c.get_perms("/p/child").body, args("b3", "r4", "w5"));   // inherited
    EXPECT_EQ(c.set_perms("/p", "x3").error(), "EINVAL");
    EXPECT_EQ(c.call(XS_SET_PERMS, args("/p")).error(), "EINVAL");
    EXPECT_EQ(c.get_perms("@introduceDomain").body, args("n0"));
    EXPECT_EQ(c.get_perms("@other").error(), "ENOENT");
    EXPECT_EQ(c.read("@introduceDomain").error(), "EINVAL");
}

TEST(Protocol, DirectoryTooBigForOneReplyComesInParts) {
    Server s;
    Client c{s};
    std::vector<std::string> names;
    for (int i = 0; i < 400; ++i) {
        names.push_back("child-with-a-long-name-" + std::to_string(i));
        c.mkdir("/big/" + names.back());
    }
    EXPECT_EQ(c.dir("/big").error(), "E2BIG");
    // What libxenstore's xs_directory_part() does.
    std::vector<std::string> got;
    std::string gen;
    std::size_t off = 0;
    for (int guard = 0; guard < 100; ++guard) {
        auto r = c.call(XS_DIRECTORY_PART, args("/big", std::to_string(off)));
        ASSERT_TRUE(r.ok()) << r.error();
        auto g = std::string{r.body.c_str()};
        if (gen.empty()) gen = g;
        EXPECT_EQ(g, gen);
        std::string_view rest = std::string_view{r.body}.substr(g.size() + 1);
        bool end = false;
        while (!rest.empty()) {
            auto nul = rest.find('\0');
            auto name = rest.substr(0, nul);
            rest.remove_prefix(nul + 1);
            if (name.empty()) { end = true; break; }
            got.emplace_back(name);
            off += name.size() + 1;
        }
        if (end) break;
    }
    EXPECT_EQ(got, names);
    EXPECT_EQ(c.call(XS_DIRECTORY_PART, args("/big")).error(), "EINVAL");
}

TEST(Protocol, BadRequestsGetErrorsAndTheConnectionGoesOn) {
    Server s;
    Client c{s};
    EXPECT_EQ(c.call(XS_READ, "/a").error(), "EINVAL");                     // no NUL
    EXPECT_EQ(c.call(XS_READ, args("/a", "/b")).error(), "EINVAL");         // two strings
    EXPECT_EQ(c.call(XS_WRITE, "no-nul").error(), "EINVAL");
    EXPECT_EQ(c.call(77, "x").error(), "ENOSYS");                           // unknown type
    EXPECT_EQ(c.call(XS_WATCH_EVENT, "x").error(), "ENOSYS");
    EXPECT_EQ(c.call(XS_ERROR, "x").error(), "ENOSYS");
    EXPECT_EQ(c.call(XS_INVALID, "").error(), "ENOSYS");
    EXPECT_EQ(c.read("/a b").error(), "EINVAL");
    EXPECT_EQ(c.read("relative//x").error(), "EINVAL");
    EXPECT_EQ(c.read(std::string(3000, 'x')).error(), "EINVAL");
    EXPECT_EQ(c.call(XS_CONTROL, args("no-such-command")).error(), "EINVAL");
    EXPECT_TRUE(c.write("/still", "fine").ok());
}

TEST(Protocol, OversizedMessageGetsE2bigAndIsDisconnected) {
    Server s;
    Client bad{s}, good{s};
    MsgHeader h{XS_WRITE, 42, 0, XENSTORE_PAYLOAD_MAX + 1};
    bad.send_raw(std::string{reinterpret_cast<char const*>(&h), sizeof h} +
                 std::string(100, 'x'));
    auto all = bad.replies();
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].error(), "E2BIG");
    EXPECT_EQ(all[0].req_id, 42u);
    EXPECT_EQ(s.find(bad.serial()), nullptr);   // gone
    EXPECT_TRUE(good.write("/ok", "1").ok());
}

TEST(Protocol, ManyRequestsInOneWriteAndSplitAcrossWrites) {
    Server s;
    Client c{s};
    std::string batch;
    for (std::uint32_t i = 0; i < 500; ++i)
        batch += request(XS_WRITE, i, 0, "/n" + std::to_string(i) + std::string(1, '\0') + "v");
    for (std::size_t off = 0; off < batch.size(); off += 7) c.send_raw(batch.substr(off, 7));
    auto all = c.replies();
    ASSERT_EQ(all.size(), 500u);
    for (std::uint32_t i = 0; i < 500; ++i) EXPECT_EQ(all[i].req_id, i);
    EXPECT_EQ(c.read("/n499").body, "v");
}

TEST(Protocol, WorkLeftAfterOneTurnIsNotForgotten) {
    // A client whose bytes trickle in: one wakeup cannot take them all, and no fd will say
    // "readable" again for bytes already read. The server must come back by itself.
    Server s;
    Client c{s};
    c.pipe().read_limit = 5;
    std::string batch;
    for (std::uint32_t i = 0; i < 50; ++i) batch += request(XS_READ, i, 0, args("/"));
    c.pipe().to_server = batch;
    s.service(*c.conn());   // the one wakeup
    for (int i = 0; i < 1000 && s.has_pending_work(); ++i) s.flush();
    EXPECT_FALSE(s.has_pending_work());
    c.pipe().read_limit = SIZE_MAX;
    std::string rx = c.pipe().from_server;
    EXPECT_EQ(parse_messages(rx).size(), 50u);
}

TEST(Protocol, ClientThatNeverReadsIsThrottledThenDropped) {
    Config cfg;
    cfg.congested_bytes = 64 * 1024;
    cfg.max_output_bytes = 256 * 1024;
    Server s{cfg};
    Client flood{s}, w{s}, good{s};
    flood.pipe().write_limit = 0;   // never reads
    flood.watch("/", "all");
    std::string dir = "/f/" + std::string(1500, 'd') + "/";
    int i = 0;
    for (; i < 400 && s.find(flood.serial()); ++i)
        good.write(dir + std::to_string(i), "v");   // each fires flood's watch (~1.5 KB)
    EXPECT_EQ(s.find(flood.serial()), nullptr);
    EXPECT_GT(i, 100);   // throttled for a while (64 KiB), dropped past 256 KiB
    EXPECT_EQ(good.read(dir + "0").body, "v");
    (void)w;
}

TEST(Protocol, ControlCommands) {
    Server s;
    Client c{s};
    EXPECT_NE(c.call(XS_CONTROL, args("help")).body.find("quota"), std::string::npos);
    EXPECT_TRUE(c.call(XS_CONTROL, args("print", "hello")).ok());
    EXPECT_TRUE(c.call(XS_CONTROL, args("check")).ok());
    EXPECT_TRUE(c.call(XS_CONTROL, args("log", "on")).ok());
    EXPECT_NE(c.call(XS_CONTROL, args("quota", "0")).body.find("Domain 0"), std::string::npos);
}

} // namespace
} // namespace kxen::xenstore::test
