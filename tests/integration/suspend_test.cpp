// minios's side of Xen's cooperative suspend against a real kxend, kxenstored and
// kxen-backend: control/shutdown=suspend, the domain shut down with SHUTDOWN_suspend, then
// either a cancel (what libxc's xc_domain_resume(fast) does: SCHEDOP_shutdown returns 1) or a
// save and restore into a new domain (it returns 0 there), after which the guest must carry
// on: timers, console, and control/shutdown.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cstring>
#include <sstream>
#include <thread>
#include <xen/hvm/save.h>
#include <xen/sched.h>
#include "host.hpp"
#include "privcmd/client.hpp"
#include "xenstore/client/xs.hpp"

using kxen::test::Host;
using kxen::test::type;
using namespace kxen;
using namespace std::chrono_literals;

namespace {

constexpr int kGone = -2;

// The shutdown code once the domain is shut down, kGone once it is destroyed, or -1 if
// neither happens within the timeout.
int wait_shutdown(privcmd::Client& c, std::uint16_t domid, std::chrono::seconds timeout = 30s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        auto info = c.domain_info(domid);
        if (!info) return kGone;
        if (info->flags & XEN_DOMINF_shutdown)
            return static_cast<int>((info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask);
        std::this_thread::sleep_for(20ms);
    }
    return -1;
}

// libxc's xc_domain_resume(fast): the suspend hypercall returns 1 in the old domain.
::testing::AssertionResult cancel_suspend(privcmd::Client& c, std::uint16_t domid) {
    if (auto r = c.pause(domid); !r) return ::testing::AssertionFailure() << "pause";
    auto blob = c.get_hvm_context(domid);
    if (!blob) return ::testing::AssertionFailure() << "get_hvm_context";
    bool found = false;
    for (std::size_t off = 0; off + sizeof(hvm_save_descriptor) <= blob->size();) {
        hvm_save_descriptor d;
        std::memcpy(&d, blob->data() + off, sizeof d);
        off += sizeof d;
        if (d.typecode == 0 || off + d.length > blob->size()) break;
        if (d.typecode == HVM_SAVE_CODE(CPU) && d.instance == 0 && d.length >= sizeof(hvm_hw_cpu)) {
            std::uint64_t one = 1;
            std::memcpy(blob->data() + off + offsetof(hvm_hw_cpu, rax), &one, sizeof one);
            found = true;
        }
        off += d.length;
    }
    if (!found) return ::testing::AssertionFailure() << "no CPU record for vCPU 0";
    if (auto r = c.set_hvm_context(domid, *blob); !r) return ::testing::AssertionFailure() << "set_hvm_context";
    if (auto r = c.resume_domain(domid); !r) return ::testing::AssertionFailure() << "resumedomain";
    if (auto r = c.unpause(domid); !r) return ::testing::AssertionFailure() << "unpause";
    return ::testing::AssertionSuccess();
}

// `text` appears in the console log after byte `from`.
bool wait_console_after(Host const& h, std::string const& name, std::size_t from, std::string const& text,
                        std::chrono::seconds timeout = 30s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        auto log = h.console_log(name);
        if (log.size() > from && log.find(text, from) != std::string::npos) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}


class SuspendCancel : public ::testing::TestWithParam<std::string> {};

} // namespace

TEST_P(SuspendCancel, GuestRunsOnAndStillTakesShutdown) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    auto xs = h.store();
    ASSERT_TRUE(xs);
    ASSERT_EQ(h.create("sus", "test=idle period_ms=5 evtchn=" + GetParam()).status, 0);
    ASSERT_TRUE(h.wait_console("sus", "KXEN-TEST idle PASS", 60s)) << h.console_log("sus");
    ASSERT_TRUE(h.wait_console("sus", "control: watching control/shutdown", 10s)) << h.console_log("sus");
    auto id = h.domid("sus");
    ASSERT_NE(id, 0);
    auto dom = fmt::format("/local/domain/{}", id);
    EXPECT_EQ(xs->try_read(dom + "/control/feature-suspend"), "1");

    auto cl = privcmd::Client::connect(h.socket());
    ASSERT_TRUE(cl);
    auto& c = *cl;
    ASSERT_TRUE(xs->write(dom + "/control/shutdown", "suspend"));
    ASSERT_TRUE(h.wait_console("sus", "control: suspending", 30s)) << h.console_log("sus");
    ASSERT_EQ(wait_shutdown(c, id), SHUTDOWN_suspend) << h.console_log("sus") << h.kxend_log();
    EXPECT_EQ(xs->try_read(dom + "/control/shutdown"), "");   // acknowledged before suspending

    auto before = h.console_log("sus").size();
    ASSERT_TRUE(cancel_suspend(c, id)) << h.kxend_log();
    ASSERT_TRUE(wait_console_after(h, "sus", before, "control: suspend cancelled, running on"))
        << h.console_log("sus") << h.kxend_log();
    auto info = c.domain_info(id);
    ASSERT_TRUE(info);
    EXPECT_FALSE(info->flags & XEN_DOMINF_shutdown);
    // Timers still fire: the heartbeat (every 100 wakeups, 0.5 s at 5 ms) goes on.
    auto resumed = h.console_log("sus").size();
    EXPECT_TRUE(wait_console_after(h, "sus", resumed, "wakeups, t=")) << h.console_log("sus");

    // A second round, the guest must be able to suspend again.
    before = h.console_log("sus").size();
    ASSERT_TRUE(xs->write(dom + "/control/shutdown", "suspend"));
    ASSERT_EQ(wait_shutdown(c, id), SHUTDOWN_suspend) << h.console_log("sus");
    ASSERT_TRUE(cancel_suspend(c, id));
    ASSERT_TRUE(wait_console_after(h, "sus", before, "control: suspend cancelled, running on")) << h.console_log("sus");

    auto r = h.kxl({"shutdown", "sus"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_console("sus", "control: shutdown request poweroff", 30s)) << h.console_log("sus");
    // Shut down, or already destroyed by kxl's monitor (on_poweroff="destroy").
    auto code = wait_shutdown(c, id);
    EXPECT_TRUE(code == SHUTDOWN_poweroff || code == kGone) << code;
    EXPECT_EQ(h.console_log("sus").find("FAIL"), std::string::npos) << h.console_log("sus");
    EXPECT_TRUE(h.kxend_alive());
}

INSTANTIATE_TEST_SUITE_P(Evtchn, SuspendCancel, ::testing::Values("2l", "fifo"));

namespace {

std::size_t pos_after(std::string const& log, std::string const& text) {
    auto p = log.find(text);
    return p == std::string::npos ? std::string::npos : p + text.size();
}

class SuspendNewDomain : public ::testing::TestWithParam<std::string> {};

} // namespace

TEST_P(SuspendNewDomain, SavedAndRestoredGuestRunsOn) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    auto xs = h.store();
    ASSERT_TRUE(xs);
    ASSERT_EQ(h.create("mig", "test=idle period_ms=5 evtchn=" + GetParam()).status, 0);
    ASSERT_TRUE(h.wait_console("mig", "KXEN-TEST idle PASS", 60s)) << h.console_log("mig");
    ASSERT_TRUE(h.wait_console("mig", "control: watching control/shutdown", 10s)) << h.console_log("mig");
    auto old_id = h.domid("mig");
    auto file = (h.dir() / "mig.save").string();

    auto r = h.kxl({"save", "mig", file});
    ASSERT_EQ(r.status, 0) << r.out << h.console_log("mig") << h.kxend_log();
    EXPECT_NE(h.console_log("mig").find("control: suspending"), std::string::npos) << h.console_log("mig");
    EXPECT_TRUE(h.wait_gone("mig"));   // xl save destroys the domain once it is written

    r = h.kxl({"restore", file});
    ASSERT_EQ(r.status, 0) << r.out << h.kxend_log();
    ASSERT_TRUE(h.wait_console("mig", "control: resumed in a new domain", 60s)) << h.console_log("mig") << h.kxend_log();
    auto id = h.domid("mig");
    ASSERT_NE(id, 0);
    EXPECT_NE(id, old_id);
    auto log = h.console_log("mig");
    auto resumed = pos_after(log, "control: resumed in a new domain");
    // Timers fire in the new domain: the heartbeat goes on.
    EXPECT_TRUE(wait_console_after(h, "mig", resumed, "wakeups, t=")) << h.console_log("mig") << h.kxend_log();
    // What the guest wrote itself came back with it.
    EXPECT_EQ(xs->try_read(fmt::format("/local/domain/{}/control/feature-suspend", id)), "1");

    r = h.kxl({"shutdown", "mig"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(wait_console_after(h, "mig", resumed, "control: shutdown request poweroff")) << h.console_log("mig");
    EXPECT_EQ(h.console_log("mig").find("FAIL"), std::string::npos) << h.console_log("mig");
    EXPECT_TRUE(h.kxend_alive());
}

INSTANTIATE_TEST_SUITE_P(Evtchn, SuspendNewDomain, ::testing::Values("2l", "fifo"));

TEST(SuspendNewDomainConsole, InputEchoedAfterRestore) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("echo", "test=console-echo").status, 0);
    ASSERT_TRUE(h.wait_console("echo", "console-echo: ready", 60s)) << h.console_log("echo");
    auto file = (h.dir() / "echo.save").string();
    auto r = h.kxl({"save", "echo", file});
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_TRUE(h.wait_gone("echo"));
    r = h.kxl({"restore", file});
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_TRUE(h.wait_console("echo", "control: resumed in a new domain", 60s)) << h.console_log("echo");
    int s = h.console_socket(h.domid("echo"));
    ASSERT_GE(s, 0);
    ASSERT_TRUE(type(s, "after restore\n"));
    EXPECT_TRUE(h.wait_console("echo", "echo: after restore", 30s)) << h.console_log("echo") << h.kxend_log();
    ASSERT_TRUE(type(s, "quit\r"));
    EXPECT_TRUE(h.wait_console("echo", "KXEN-TEST console-echo PASS", 30s)) << h.console_log("echo");
    ::close(s);
}

TEST(SuspendCheckpoint, SaveWithContinueLeavesTheGuestRunning) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("ckpt", "test=idle period_ms=5").status, 0);
    ASSERT_TRUE(h.wait_console("ckpt", "control: watching control/shutdown", 60s)) << h.console_log("ckpt");
    auto id = h.domid("ckpt");
    auto r = h.kxl({"save", "-c", "ckpt", (h.dir() / "ckpt.save").string()});
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_TRUE(h.wait_console("ckpt", "control: suspend cancelled, running on", 30s)) << h.console_log("ckpt");
    EXPECT_EQ(h.domid("ckpt"), id);
    auto log = h.console_log("ckpt");
    EXPECT_TRUE(wait_console_after(h, "ckpt", pos_after(log, "running on"), "wakeups, t=")) << h.console_log("ckpt");
    r = h.kxl({"shutdown", "ckpt"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_console("ckpt", "control: shutdown request poweroff", 30s)) << h.console_log("ckpt");
}

namespace {

// What the migrated guest printed on the destination. kxen-backend logs the ring under the
// name the domain had when it attached (mv--incoming, before the rename).
std::string migrated_log(Host const& h, std::string const& name) {
    return h.console_log(name + "--incoming") + h.console_log(name);
}

bool wait_migrated(Host const& h, std::string const& name, std::string const& text, int count = 1) {
    auto end = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < end) {
        auto log = migrated_log(h, name);
        int seen = 0;
        for (auto p = log.find(text); p != std::string::npos; p = log.find(text, p + 1)) ++seen;
        if (seen >= count) return true;
        std::this_thread::sleep_for(50ms);
    }
    return false;
}

} // namespace

// Live migration to a kxend that started later: its system time is behind the source's, and
// the guest's clock must not jump back with it (idle's heartbeat counts from its own start).
TEST(SuspendMigrate, GuestCarriesOnOnAnotherKxend) {
    KXEN_REQUIRE_ACCEL();
    Host a;
    ASSERT_EQ(a.create("mv", "test=idle period_ms=5 evtchn=fifo").status, 0);
    ASSERT_TRUE(a.wait_console("mv", "idle: 100 wakeups", 60s)) << a.console_log("mv");
    Host b;
    auto r = a.kxl({"migrate", "mv", b.socket()});
    ASSERT_EQ(r.status, 0) << r.out << a.console_log("mv");
    EXPECT_NE(a.console_log("mv").find("control: suspending"), std::string::npos) << a.console_log("mv");
    ASSERT_TRUE(wait_migrated(b, "mv", "control: resumed in a new domain")) << migrated_log(b, "mv") << b.kxend_log();
    ASSERT_TRUE(wait_migrated(b, "mv", "wakeups, t=", 2)) << migrated_log(b, "mv");
    auto log = migrated_log(b, "mv");
    std::uint64_t last = 0;
    for (std::size_t p = log.find("wakeups, t="); p != std::string::npos; p = log.find("wakeups, t=", p + 1)) {
        auto t = std::stoull(log.substr(p + std::strlen("wakeups, t=")));
        EXPECT_GE(t, last) << log;
        EXPECT_LT(t, 600'000u) << "the guest's clock jumped: " << log;
        last = t;
    }
    r = b.kxl({"shutdown", "mv"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(wait_migrated(b, "mv", "control: shutdown request poweroff")) << migrated_log(b, "mv");
    EXPECT_EQ(log.find("FAIL"), std::string::npos) << log;
}
