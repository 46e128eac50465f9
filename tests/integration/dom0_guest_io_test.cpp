// dom0 against a running minios through privcmd: the guest halves of the event-channel and
// grant benchmarks (test=evtchn-echo, test=grant-pages) checked for what they do, not for
// how fast.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>
#include <cstdio>
#include <vector>
#include <xen/grant_table.h>
#include "host.hpp"
#include "privcmd/client.hpp"

using namespace std::chrono_literals;
using kxen::test::Host;
using namespace kxen;

namespace {

bool readable(int fd, int ms) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, ms) == 1;
}

// The domid `kxl list` shows for `name` (its second column).

// The number after `key` in the guest's console, or -1.
long console_number(Host const& h, std::string const& name, std::string const& key) {
    auto log = h.console_log(name);
    auto at = log.find(key);
    return at == std::string::npos ? -1 : std::stol(log.substr(at + key.size()));
}

} // namespace

TEST(Dom0Guest, EvtchnEchoAnswersEveryEvent) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("echo", "test=evtchn-echo count=100").status, 0);
    ASSERT_TRUE(h.wait_console("echo", "evtchn-echo: port=")) << h.console_log("echo");
    int const domid = h.domid("echo");
    long const port = console_number(h, "echo", "evtchn-echo: port=");
    ASSERT_GT(domid, 0);
    ASSERT_GT(port, 0);
    auto c = privcmd::Client::connect(h.socket());
    ASSERT_TRUE(c) << c.error().message();
    auto b = c->evtchn_bind_interdomain(static_cast<std::uint16_t>(domid), static_cast<std::uint32_t>(port));
    ASSERT_TRUE(b);
    std::uint64_t n;
    ASSERT_TRUE(readable(b->fd.raw(), 5000));   // raised once by the bind itself
    ASSERT_EQ(::read(b->fd.raw(), &n, sizeof n), 8);
    for (int i = 0; i < 100; ++i) {
        ASSERT_TRUE(c->evtchn_notify(b->port));
        ASSERT_TRUE(readable(b->fd.raw(), 10000)) << "no echo " << i << "\n" << h.console_log("echo");
        ASSERT_EQ(::read(b->fd.raw(), &n, sizeof n), 8);
    }
    EXPECT_TRUE(h.wait_console("echo", "KXEN-TEST evtchn-echo PASS", 30s)) << h.console_log("echo");
    EXPECT_TRUE(h.kxend_alive());
}

TEST(Dom0Guest, GrantPagesCanBeCopiedAndMapped) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("gp", "test=grant-pages count=64").status, 0);
    ASSERT_TRUE(h.wait_console("gp", "KXEN-TEST grant-pages RUNNING")) << h.console_log("gp");
    int const domid = h.domid("gp");
    long const gref = console_number(h, "gp", "grant-pages: gref=");
    ASSERT_GT(domid, 0);
    ASSERT_GE(gref, 0);
    auto const d = static_cast<std::uint16_t>(domid);
    auto c = privcmd::Client::connect(h.socket());
    ASSERT_TRUE(c) << c.error().message();

    // Two batches of 32 segments; the guest filled page i with the byte i.
    std::vector<std::uint32_t> refs(32);
    std::vector<std::uint8_t> out(32 * 4096);
    for (unsigned batch = 0; batch < 2; ++batch) {
        for (unsigned i = 0; i < 32; ++i) refs[i] = static_cast<std::uint32_t>(gref) + batch * 32 + i;
        ASSERT_EQ(c->grant_copy_from(d, refs, 4096, out.data()), GNTST_okay);
        for (unsigned i = 0; i < 32; ++i) {
            auto const want = static_cast<std::uint8_t>(batch * 32 + i);
            EXPECT_EQ(out[i * 4096], want) << "page " << batch * 32 + i;
            EXPECT_EQ(out[i * 4096 + 4095], want) << "page " << batch * 32 + i;
        }
    }
    // A ref past the granted ones is refused.
    std::uint32_t beyond = static_cast<std::uint32_t>(gref) + 64;
    EXPECT_NE(c->grant_copy_from(d, {&beyond, 1}, 4096, out.data()), GNTST_okay);

    for (unsigned i = 0; i < 64; ++i) {
        auto m = c->gnttab_map(d, static_cast<std::uint32_t>(gref) + i, false);
        ASSERT_TRUE(m) << "ref " << gref + i;
        EXPECT_EQ(static_cast<std::uint8_t>(m->page.data()[100]), i);
        EXPECT_TRUE(c->gnttab_unmap(m->handle));
    }
    EXPECT_TRUE(h.kxend_alive());
}
