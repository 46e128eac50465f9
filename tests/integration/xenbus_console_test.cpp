// minios's xenbus client, PV console ring and control/shutdown handling against a real kxend,
// kxenstored and kxen-backend: the guest-side xenstore test, console input echoed back through
// the ring, a guest that breaks its store ring next to well-behaved ones, and `kxl shutdown` /
// `kxl reboot` of an idling guest taken through control/shutdown.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cstring>
#include <sstream>
#include "host.hpp"

using kxen::test::Host;
using kxen::test::type;
using namespace std::chrono_literals;

TEST(XenbusConsole, GuestXenstoreClient) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("xb", "test=xenbus").status, 0);
    EXPECT_TRUE(h.wait_console("xb", "KXEN-TEST xenbus PASS", 60s)) << h.console_log("xb") << h.kxend_log();
    EXPECT_EQ(h.console_log("xb").find("FAIL"), std::string::npos) << h.console_log("xb");
    EXPECT_TRUE(h.wait_gone("xb"));
}

TEST(XenbusConsole, ConsoleInputEchoedThroughTheRing) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("echo", "test=console-echo").status, 0);
    ASSERT_TRUE(h.wait_console("echo", "console-echo: ready", 60s)) << h.console_log("echo") << h.kxend_log();
    // The banner says the output went to the ring, not console_io.
    EXPECT_NE(h.console_log("echo").find("console ring (port"), std::string::npos) << h.console_log("echo");
    int s = h.console_socket(h.domid("echo"));
    ASSERT_GE(s, 0);
    ASSERT_TRUE(type(s, "hello kxen\n"));
    EXPECT_TRUE(h.wait_console("echo", "echo: hello kxen", 30s)) << h.console_log("echo");
    ASSERT_TRUE(type(s, "quit\r"));
    EXPECT_TRUE(h.wait_console("echo", "KXEN-TEST console-echo PASS", 30s)) << h.console_log("echo");
    ::close(s);
    EXPECT_TRUE(h.wait_gone("echo"));
}

TEST(XenbusConsole, HostileStoreRingLeavesOthersServed) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("good", "test=xenbus on_done=stay").status, 0);
    ASSERT_TRUE(h.wait_console("good", "control: watching control/shutdown", 60s)) << h.console_log("good");
    ASSERT_NE(h.console_log("good").find("KXEN-TEST xenbus PASS"), std::string::npos) << h.console_log("good");
    // Each order puts another break first, on a connection the daemon still serves.
    for (std::string fatal : {"len", "rsp", "req"}) {
        auto name = "bad-" + fatal;
        ASSERT_EQ(h.create(name, "test=xs-hostile fatal=" + fatal).status, 0);
        EXPECT_TRUE(h.wait_console(name, "KXEN-TEST xs-hostile PASS", 60s)) << h.console_log(name);
        EXPECT_NE(h.console_log(name).find("flood drained; a read still works"), std::string::npos)
            << h.console_log(name);
    }
    // kxenstored still serves a new domain and the old one's control node.
    ASSERT_EQ(h.create("after", "test=xenbus").status, 0);
    EXPECT_TRUE(h.wait_console("after", "KXEN-TEST xenbus PASS", 60s)) << h.console_log("after") << h.kxend_log();
    auto r = h.kxl({"shutdown", "good"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_console("good", "control: shutdown request poweroff", 30s)) << h.console_log("good");
    EXPECT_TRUE(h.wait_gone("good"));
    EXPECT_TRUE(h.kxend_alive());
}

TEST(XenbusConsole, ShutdownAndRebootOfAnIdleGuestThroughControl) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("idler", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("idler", "KXEN-TEST idle PASS", 60s)) << h.console_log("idler");
    ASSERT_TRUE(h.wait_console("idler", "control: watching control/shutdown", 10s)) << h.console_log("idler");
    auto id = h.domid("idler");

    // on_reboot=restart (examples/minios.cfg): the same name comes back as a new domain.
    auto r = h.kxl({"reboot", "idler"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_console("idler", "control: shutdown request reboot", 30s)) << h.console_log("idler");
    EXPECT_TRUE(h.wait_console("idler", "control: watching control/shutdown", 60s, 2)) << h.console_log("idler");
    EXPECT_NE(h.domid("idler"), id);

    r = h.kxl({"shutdown", "-w", "idler"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_console("idler", "control: shutdown request poweroff", 30s)) << h.console_log("idler");
    EXPECT_TRUE(h.wait_gone("idler"));
}
