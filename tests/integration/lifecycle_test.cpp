// Domain lifecycle through kxl: create, console, shutdown actions, several domains, fairness.
#include <gtest/gtest.h>
#include <fstream>
#include <thread>
#include <sys/wait.h>
#include <atomic>
#include "host.hpp"
#include "privcmd/client.hpp"

using namespace std::chrono_literals;
using kxen::test::Host;
using kxen::test::accel;

// kxend says which accelerator runs its guests, in its log and in `kxl info`.
TEST(Lifecycle, InfoNamesTheAccelerator) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto r = h.kxl({"info"});
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("xen_commandline        : accel=" + accel()), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(accel() == "soft" ? "kxen (software vCPU)" : "kxen (KVM)"), std::string::npos) << r.out;
    EXPECT_NE(h.kxend_log().find("accelerator: " + accel()), std::string::npos) << h.kxend_log();
}

// SIGTERM while dom0 clients are inside calls (one listing domains in a loop, one waiting on a
// domain's state, as xl's and kxl's monitors do): kxend hangs up on them, lets each session
// release what it held, and only then tears the hypervisor down, and exits 0. It used to free
// the domains under a running session (a crash in the domain listing).
TEST(Lifecycle, StopsCleanlyUnderClientsInsideCalls) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("busy", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("busy", "KXEN-TEST idle PASS"));
    auto id = h.domid("busy");
    std::atomic<int> listed{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 3; ++i)
        clients.emplace_back([&] {
            auto c = kxen::privcmd::Client::connect(h.socket());
            if (!c) return;
            while (c->domain_list()) ++listed;
        });
    clients.emplace_back([&] {
        auto c = kxen::privcmd::Client::connect(h.socket());
        if (!c) return;
        auto seq = c->domain_wait(id, 0, 0);
        while (seq && (seq = c->domain_wait(id, *seq, 60000))) {}
    });
    while (listed < 100) std::this_thread::sleep_for(1ms);
    // A SIGKILL after 5 s (a session never let go) shows as a signal, not as exit 0.
    int st = h.stop_kxend();
    for (auto& c : clients) c.join();
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st << "\n" << h.kxend_log();
}

TEST(Lifecycle, CreateShowsBannerThenPoweroffRemovesDomain) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto r = h.create("hello", "test=hello");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_console("hello", "minios: booting")) << h.console_log("hello") << h.kxend_log();
    EXPECT_TRUE(h.wait_console("hello", "KXEN-TEST hello PASS")) << h.console_log("hello");
    EXPECT_TRUE(h.wait_gone("hello")) << h.kxl({"list"}).out;
    EXPECT_TRUE(h.kxend_alive());
}

TEST(Lifecycle, RebootRestartsTheGuest) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    auto r = h.create("rb", "test=hello on_done=reboot", {"on_reboot=\"restart\""});
    ASSERT_EQ(r.status, 0) << r.out;
    // Two boots in the console log: the first run, and the restart after its reboot.
    EXPECT_TRUE(h.wait_console("rb", "minios: booting", 60s, 2)) << h.console_log("rb") << h.kxend_log();
    // It reboots again and again (4 ms a boot); its monitor may be between destroying one
    // incarnation and creating the next (slow on a loaded host), so the domain must stay gone
    // for a while, not just vanish once.
    int absent = 0;
    for (int i = 0; i < 200 && absent < 15; ++i) {
        if (h.list_line("rb")) {
            absent = 0;
            h.kxl({"destroy", "rb"});
        } else {
            ++absent;
        }
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_FALSE(h.list_line("rb"));
    EXPECT_TRUE(h.kxend_alive());
}

TEST(Lifecycle, CrashWithPreserveKeepsCrashedDomain) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    auto r = h.create("cr", "test=crash", {"on_crash=\"preserve\""});
    ASSERT_EQ(r.status, 0) << r.out;
    std::optional<std::string> line;
    for (int i = 0; i < 300; ++i) {
        line = h.list_line("cr");
        if (line && line->find("--c-") != std::string::npos) break;
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(line) << h.kxl({"list"}).out;
    EXPECT_NE(line->find("--c-"), std::string::npos) << *line;
    std::this_thread::sleep_for(500ms);
    EXPECT_TRUE(h.list_line("cr")) << "a preserved domain must stay";
    EXPECT_EQ(h.kxl({"destroy", "cr"}).status, 0);
    EXPECT_TRUE(h.wait_gone("cr"));
}

TEST(Lifecycle, TwoDomainsRunAtOnce) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("one", "test=idle").status, 0);
    ASSERT_EQ(h.create("two", "test=idle").status, 0);
    EXPECT_TRUE(h.wait_console("one", "KXEN-TEST idle PASS")) << h.console_log("one");
    EXPECT_TRUE(h.wait_console("two", "KXEN-TEST idle PASS")) << h.console_log("two");
    EXPECT_TRUE(h.list_line("one"));
    EXPECT_TRUE(h.list_line("two"));
    EXPECT_EQ(h.kxl({"destroy", "one"}).status, 0);
    EXPECT_EQ(h.kxl({"destroy", "two"}).status, 0);
    EXPECT_TRUE(h.wait_gone("one"));
    EXPECT_TRUE(h.wait_gone("two"));
}

TEST(Lifecycle, SpinningGuestsDoNotStarveAnother) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    // One spinner per pCPU worker, so every worker has a vCPU that never yields.
    ASSERT_EQ(h.create("spin1", "test=spin").status, 0);
    ASSERT_EQ(h.create("spin2", "test=spin").status, 0);
    ASSERT_TRUE(h.wait_console("spin1", "KXEN-TEST spin RUNNING")) << h.console_log("spin1");
    ASSERT_TRUE(h.wait_console("spin2", "KXEN-TEST spin RUNNING")) << h.console_log("spin2");
    ASSERT_EQ(h.create("idle", "test=idle").status, 0);
    EXPECT_TRUE(h.wait_console("idle", "KXEN-TEST idle PASS", 60s)) << h.console_log("idle");
    // And the spinners still make progress.
    EXPECT_TRUE(h.wait_console("spin1", "spin: alive", 30s)) << h.console_log("spin1");
    for (auto n : {"spin1", "spin2", "idle"}) h.kxl({"destroy", n});
    EXPECT_TRUE(h.kxend_alive());
}

TEST(Lifecycle, ShutdownCommandPowersOffTheGuest) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("sd", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("sd", "KXEN-TEST idle PASS")) << h.console_log("sd");
    auto r = h.kxl({"shutdown", "-w", "-F", "sd"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_TRUE(h.wait_gone("sd"));
}

TEST(Lifecycle, BrokenConfigNamesFileAndLine) {
    Host h;   // no KVM needed: the config is refused before kxend is asked for anything
    auto cfg = h.dir() / "broken.cfg";
    std::ofstream(cfg) << "name = \"x\"\nmemory = 16\nkernel = \"k\n";
    auto r = h.kxl({"create", cfg.string()});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("broken.cfg:3"), std::string::npos) << r.out;
    EXPECT_FALSE(h.list_line("x"));
}

// Boot files that are not regular files, or do not fit the domain's memory, are refused before
// anything is read or built; a name kxend would refuse is refused before kxl connects.
TEST(Lifecycle, UnusableBootFilesAndNamesAreRefusedUpFront) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    auto zero = h.create("z", "test=hello", {"kernel=\"/dev/zero\""});
    EXPECT_NE(zero.status, 0);
    EXPECT_NE(zero.out.find("kernel '/dev/zero': not a regular file"), std::string::npos) << zero.out;

    auto big = h.dir() / "big.img";
    std::ofstream{big}.close();
    std::filesystem::resize_file(big, 17u << 20);   // sparse: nothing is written
    auto huge = h.create("r", "test=hello", {"memory=16", "ramdisk=\"" + big.string() + "\""});
    EXPECT_NE(huge.status, 0);
    EXPECT_NE(huge.out.find("ramdisk '" + big.string() + "': 17825792 bytes, more than the 16777216 allowed"),
              std::string::npos) << huge.out;

    auto nodisk = h.create("d", "test=hello", {"disk=['/nonexistent/disk.img,,xvda']"});
    EXPECT_NE(nodisk.status, 0);
    EXPECT_NE(nodisk.out.find("disk xvda: '/nonexistent/disk.img': No such file or directory"), std::string::npos)
        << nodisk.out;

    // --socket names nothing: the name must be refused before kxl tries it.
    auto slash = h.kxl({"--socket", (h.dir() / "absent").string(), "create",
                        std::string(KXEN_EXAMPLES) + "/minios.cfg", "name=\"a/b\""});
    EXPECT_NE(slash.status, 0);
    EXPECT_NE(slash.out.find("'name' may hold only letters"), std::string::npos) << slash.out;
    EXPECT_EQ(slash.out.find("absent"), std::string::npos) << slash.out;

    auto list = h.kxl({"list"});
    for (auto n : {" z ", " r ", " d ", "a/b"}) EXPECT_EQ(list.out.find(n), std::string::npos) << list.out;
    EXPECT_TRUE(h.kxend_alive());
}

// A config full of settings kxl does not implement still creates the domain, and each one is
// warned about (the first ones by name, the rest counted), never dropped silently.
TEST(Lifecycle, UnimplementedSettingsAreWarnedAbout) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    auto cfg = h.dir() / "many.cfg";
    {
        std::ofstream f(cfg);
        f << "name = \"many\"\nkernel = \"" << KXEN_GUEST << "\"\nmemory = 16\nextra = \"test=hello\"\n";
        f << "vif = [ 'bridge=xenbr0' ]\n";
        for (int i = 0; i < 100000; ++i) f << "unknown_" << i << " = " << i << "\n";
    }
    auto r = h.kxl({"create", cfg.string()});
    ASSERT_EQ(r.status, 0) << r.out.substr(0, 4000);
    EXPECT_NE(r.out.find("many.cfg:5: 'vif' is not implemented by kxl yet; ignored"), std::string::npos)
        << r.out.substr(0, 4000);
    EXPECT_NE(r.out.find("99981 more settings not implemented by kxl; ignored"), std::string::npos)
        << r.out.substr(0, 4000);
    EXPECT_TRUE(h.wait_console("many", "KXEN-TEST hello PASS")) << h.console_log("many");
    h.kxl({"destroy", "many"});
}

TEST(Lifecycle, ListShowsDomainAndJson) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("ls", "test=idle", {"memory=32"}).status, 0);
    auto line = h.list_line("ls");
    ASSERT_TRUE(line);
    EXPECT_NE(line->find(" 32 "), std::string::npos) << *line;
    auto j = h.kxl({"list", "-l"});
    EXPECT_NE(j.out.find("\"name\": \"ls\""), std::string::npos) << j.out;
    EXPECT_EQ(h.kxl({"destroy", "ls"}).status, 0);
}

TEST(Lifecycle, MemorySizesThatAreNotWholeSuperpagesBoot) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    // 3 MiB is populated as a 2 MiB extent and 4 KiB ones: two runs of guest RAM.
    ASSERT_EQ(h.create("odd", "test=hello", {"memory=3"}).status, 0);
    EXPECT_TRUE(h.wait_console("odd", "KXEN-TEST hello PASS")) << h.console_log("odd") << h.kxend_log();
}
