// Guests using event channels and grants for real: loopback and interdomain channels in both
// ABIs, grant copies between two domains, and hostile calls that must fail harmlessly.
#include <gtest/gtest.h>
#include <cstdio>
#include <thread>
#include "host.hpp"

using namespace std::chrono_literals;
using kxen::test::Host;

namespace {

void run_guest_test(std::string const& name, std::string const& extra, std::chrono::seconds timeout = 60s) {
    Host h;
    ASSERT_EQ(h.create(name, extra).status, 0);
    auto test = extra.substr(5, extra.find(' ') - 5);   // "test=<name> ..."
    EXPECT_TRUE(h.wait_console(name, "KXEN-TEST " + test + " PASS", timeout))
        << h.console_log(name) << h.kxend_log();
    EXPECT_EQ(h.console_log(name).find("KXEN-TEST " + test + " FAIL"), std::string::npos) << h.console_log(name);
    EXPECT_TRUE(h.kxend_alive());
}

// Two domains exchange `count` messages through an interdomain channel and a granted page.
void pingpong(std::string const& abi) {
    Host h;
    ASSERT_EQ(h.create("pp-server", "test=pingpong role=server peer=next count=10000 " + abi).status, 0);
    ASSERT_TRUE(h.wait_console("pp-server", "pingpong: server port=")) << h.console_log("pp-server");
    auto line = h.list_line("pp-server");
    ASSERT_TRUE(line);
    // "pingpong: server port=<p> gref=<g>"
    auto log = h.console_log("pp-server");
    auto at = log.find("pingpong: server port=");
    ASSERT_NE(at, std::string::npos);
    unsigned port = 0, gref = 0;
    ASSERT_EQ(std::sscanf(log.c_str() + at, "pingpong: server port=%u gref=%u", &port, &gref), 2) << log;
    auto server_id = std::stoi(line->substr(40, 6));
    auto r = h.create("pp-client", "test=pingpong role=client peer=" + std::to_string(server_id) + " port=" +
                                       std::to_string(port) + " gref=" + std::to_string(gref) + " count=10000 " + abi);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_console("pp-client", "KXEN-TEST pingpong PASS", 120s)) << h.console_log("pp-client");
    EXPECT_TRUE(h.wait_console("pp-server", "KXEN-TEST pingpong PASS", 30s)) << h.console_log("pp-server");
    EXPECT_TRUE(h.kxend_alive());
}

} // namespace

TEST(EvtchnGuest, LoopbackTenThousandEvents2Level) {
    KXEN_REQUIRE_ACCEL();
    run_guest_test("loop2l", "test=evtchn-loop count=10000");
}

TEST(EvtchnGuest, LoopbackTenThousandEventsFifoWithPriorities) {
    KXEN_REQUIRE_ACCEL();
    run_guest_test("loopfifo", "test=evtchn-loop count=10000 evtchn=fifo");
}

TEST(EvtchnGuest, HostileCallsFailHarmlessly2Level) {
    KXEN_REQUIRE_ACCEL();
    run_guest_test("evh2l", "test=evtchn-hostile");
}

TEST(EvtchnGuest, HostileCallsFailHarmlesslyFifo) {
    KXEN_REQUIRE_ACCEL();
    run_guest_test("evhfifo", "test=evtchn-hostile evtchn=fifo");
}

TEST(GnttabGuest, HostileGrantOperationsFailHarmlesslyV1) {
    KXEN_REQUIRE_ACCEL();
    run_guest_test("gh1", "test=gnttab-hostile gnttab=v1");
}

TEST(GnttabGuest, HostileGrantOperationsFailHarmlesslyV2) {
    KXEN_REQUIRE_ACCEL();
    run_guest_test("gh2", "test=gnttab-hostile gnttab=v2");
}

TEST(Interdomain, PingPongTenThousand2LevelGrantV1) {
    KXEN_REQUIRE_ACCEL();
    pingpong("evtchn=2l gnttab=v1");
}

TEST(Interdomain, PingPongTenThousandFifoGrantV2) {
    KXEN_REQUIRE_ACCEL();
    pingpong("evtchn=fifo gnttab=v2");
}
