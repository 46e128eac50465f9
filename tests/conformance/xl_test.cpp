// Debian's unmodified xl (Xen 4.17) on kxend: the read-only commands, the life of a domain xl
// creates (console included), and what each of xl and kxl does to the other's domains
// (issue 10, items 3b, 3c and 4).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/stat.h>
#include <chrono>
#include <fstream>
#include <thread>
#include "xen_tools.hpp"

namespace kxen::test {
namespace {

// xl has no option for its global config; without /etc/xen/xl.conf it says so on every run.
std::string without_config_warning(std::string out) {
    std::string const w = "Failed to read config file: /etc/xen/xl.conf: No such file or directory\n";
    for (auto p = out.find(w); p != std::string::npos; p = out.find(w)) out.erase(p, w.size());
    return out;
}

// Whether a row of `xl list` has the paused flag (the third of "rbpscd").
bool paused(std::string const& row) {
    for (std::size_t p = 0; (p = row.find_first_of("-r", p)) != std::string::npos; ++p)
        if (p + 6 <= row.size() && row.find_first_not_of("-rbpscd", p) >= p + 6 && (p == 0 || row[p - 1] == ' ' || row[p - 1] == '\t'))
            return row[p + 2] == 'p';
    return false;
}

// The row `xl list` prints for `name`, or empty.
std::string xl_list_row(Host const& h, std::string const& name) {
    auto r = xl(h, {"list"});
    auto out = without_config_warning(r.out);
    for (std::size_t p = 0; p < out.size();) {
        auto e = out.find('\n', p);
        auto line = out.substr(p, e == std::string::npos ? std::string::npos : e - p);
        if (line.starts_with(name + " ")) return line;
        if (e == std::string::npos) break;
        p = e + 1;
    }
    return {};
}

// `xl create` of the same config kxl's tests use (examples/minios.cfg), with its overrides.
Run xl_create(Host const& h, std::string const& name, std::string const& extra) {
    return xl(h, {"create", std::string(KXEN_EXAMPLES) + "/minios.cfg", "name=\"" + name + "\"",
                  "kernel=\"" + std::string(KXEN_GUEST) + "\"", "extra=\"" + extra + "\""});
}

class Xl : public ::testing::Test {
protected:
    void SetUp() override {
        KXEN_REQUIRE_ACCEL();
        KXEN_REQUIRE_XEN_TOOLS();
        ASSERT_TRUE(h.started());
        // What a Xen host runs at boot: Domain-0's name and id in the store.
        auto init = xen_tool(h, "xen-init-dom0", {});
        ASSERT_EQ(init.status, 0) << init.out;
    }
    void TearDown() override { kill_xen_tools(h); }
    Host h;
};

TEST_F(Xl, InfoListUptimeVcpuListAndDmesg) {
    auto c = h.create("minios", "test=idle");
    ASSERT_EQ(c.status, 0) << c.out;
    ASSERT_TRUE(h.wait_console("minios", "idle"));
    auto id = std::to_string(h.domid("minios"));

    auto info = xl(h, {"info"});
    EXPECT_EQ(info.status, 0) << info.out;
    EXPECT_NE(info.out.find("xen_version            : 4.17"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("nr_cpus"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("xen_scheduler          : credit"), std::string::npos) << info.out;

    auto list = xl(h, {"list"});
    EXPECT_EQ(list.status, 0) << list.out;
    EXPECT_TRUE(xl_list_row(h, "Domain-0").starts_with("Domain-0")) << list.out;
    auto row = xl_list_row(h, "minios");
    ASSERT_FALSE(row.empty()) << list.out;
    EXPECT_NE(row.find(" " + id + " "), std::string::npos) << row;

    auto up = xl(h, {"uptime"});
    EXPECT_EQ(up.status, 0) << up.out;
    EXPECT_NE(up.out.find("minios"), std::string::npos) << up.out;

    auto vcpus = xl(h, {"vcpu-list", "minios"});
    EXPECT_EQ(vcpus.status, 0) << vcpus.out;
    EXPECT_NE(vcpus.out.find("all / all"), std::string::npos) << vcpus.out;

    // With NUMA and PCI topology (XEN_SYSCTL_numainfo, pcitopoinfo).
    auto numa = xl(h, {"info", "-n"});
    EXPECT_EQ(numa.status, 0) << numa.out;
    EXPECT_EQ(numa.out.find("failed"), std::string::npos) << numa.out;
    EXPECT_NE(numa.out.find("numa_info"), std::string::npos) << numa.out;

    // The credit scheduler's pool time slice (XEN_SYSCTL_scheduler_op) and a domain's weight.
    EXPECT_EQ(xl(h, {"sched-credit", "-s", "-t", "10"}).status, 0);
    auto pool = xl(h, {"sched-credit", "-s"});
    EXPECT_NE(pool.out.find("tslice=10ms"), std::string::npos) << pool.out;
    EXPECT_NE(xl(h, {"sched-credit", "-s", "-t", "0"}).status, 0);   // Xen's bounds: 1..1000 ms
    EXPECT_EQ(xl(h, {"sched-credit", "-d", "minios", "-w", "512"}).status, 0);
    auto weight = xl(h, {"sched-credit", "-d", "minios"});
    EXPECT_NE(weight.out.find("  512 "), std::string::npos) << weight.out;

    // The hypervisor's console: kxend's own log lines (XEN_SYSCTL_readconsole).
    auto dmesg = xl(h, {"dmesg"});
    EXPECT_EQ(dmesg.status, 0) << dmesg.out;
    EXPECT_NE(dmesg.out.find("d" + id + ": created"), std::string::npos) << dmesg.out;
}

TEST_F(Xl, PausesUnpausesShutsDownAndDestroysWhatKxlCreated) {
    ASSERT_EQ(h.create("minios", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("minios", "idle"));
    auto pause = xl(h, {"pause", "minios"});
    ASSERT_EQ(pause.status, 0) << pause.out;
    EXPECT_TRUE(paused(xl_list_row(h, "minios"))) << xl_list_row(h, "minios");
    auto kxl_row = h.list_line("minios");
    ASSERT_TRUE(kxl_row);
    EXPECT_NE(kxl_row->find('p'), std::string::npos) << *kxl_row;   // kxl sees what xl did
    ASSERT_EQ(xl(h, {"unpause", "minios"}).status, 0);
    EXPECT_FALSE(paused(xl_list_row(h, "minios"))) << xl_list_row(h, "minios");

    // Through control/shutdown in the store: the guest powers itself off.
    auto down = xl(h, {"shutdown", "-w", "minios"});
    EXPECT_EQ(down.status, 0) << down.out;
    EXPECT_TRUE(h.wait_gone("minios"));
    EXPECT_TRUE(xl_list_row(h, "minios").empty());

    ASSERT_EQ(h.create("second", "test=idle", {"name=\"second\""}).status, 0);
    ASSERT_TRUE(h.wait_console("second", "idle"));
    auto destroy = xl(h, {"destroy", "second"});
    EXPECT_EQ(destroy.status, 0) << destroy.out;
    EXPECT_TRUE(h.wait_gone("second"));
    EXPECT_TRUE(h.kxend_alive());
}

// Guest tests that need the store, event channels and grants pass under xl as under kxl; xl's
// own monitor process (the daemon `xl create` leaves) destroys each domain when it powers off
// (on_poweroff = "destroy").
TEST_F(Xl, CreatesDomainsWhoseGuestTestsPass) {
    for (auto const* test : {"xenbus", "evtchn-loop", "gnttab-hostile"}) {
        auto name = std::string("xl-") + test;
        auto c = xl_create(h, name, std::string("test=") + test);
        ASSERT_EQ(c.status, 0) << c.out;
        EXPECT_TRUE(h.wait_console(name, std::string("KXEN-TEST ") + test + " PASS", std::chrono::seconds(120)))
            << h.console_log(name);
        EXPECT_TRUE(h.wait_gone(name)) << xl(h, {"list"}).out;
    }
    EXPECT_TRUE(h.kxend_alive());
}

// `xl console` runs Debian's xenconsole on the pty kxen-backend names in console/tty: what the
// guest prints reaches the terminal, and what is typed there reaches the guest.
TEST_F(Xl, ConsoleShowsOutputAndTakesInput) {
    auto c = xl_create(h, "xl-echo", "test=console-echo");
    ASSERT_EQ(c.status, 0) << c.out;
    ASSERT_TRUE(h.wait_console("xl-echo", "console-echo: ready"));
    auto tty = h.store()->try_read("/local/domain/" + std::to_string(h.domid("xl-echo")) + "/console/tty");
    ASSERT_TRUE(tty && tty->starts_with("/dev/pts/")) << tty.value_or("(none)");

    OnPty console{xen_tool_argv("xl", {"console", "xl-echo"}), xen_tool_env(h)};
    ASSERT_TRUE(console.started());
    // Output from before the console attached waits in the pty, as under xenconsoled.
    ASSERT_TRUE(console.wait_for("console-echo: ready", std::chrono::seconds(30))) << console.screen();
    ASSERT_TRUE(console.type("typed-through-xl\r"));
    EXPECT_TRUE(console.wait_for("echo: typed-through-xl", std::chrono::seconds(30))) << console.screen();
    ASSERT_TRUE(console.type("quit\r"));
    EXPECT_TRUE(console.wait_for("KXEN-TEST console-echo PASS", std::chrono::seconds(30))) << console.screen();
    // The domain powers off and xl's monitor destroys it; xenconsole then ends by itself.
    EXPECT_TRUE(h.wait_gone("xl-echo"));
    auto st = console.wait_exit(std::chrono::seconds(30));
    EXPECT_TRUE(st.has_value()) << console.screen();
    EXPECT_TRUE(h.wait_console("xl-echo", "echo: typed-through-xl"));   // the backend's log has it too
}

// xl reboot: the guest shuts down with reason reboot, and the monitor xl create left behind
// builds it again (on_reboot = "restart"). xl dump-core reads the vCPUs of a running domain,
// which Xen pauses for the read, and all of its memory.
TEST_F(Xl, RebootsAndDumpsCore) {
    ASSERT_EQ(xl_create(h, "xl-boot", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("xl-boot", "KXEN-TEST idle PASS"));
    auto first = h.domid("xl-boot");
    auto reboot = xl(h, {"reboot", "xl-boot"});
    EXPECT_EQ(reboot.status, 0) << reboot.out;
    ASSERT_TRUE(h.wait_console("xl-boot", "KXEN-TEST idle PASS", std::chrono::seconds(60), 2)) << h.console_log("xl-boot");
    auto second = h.domid("xl-boot");
    EXPECT_NE(second, 0);
    EXPECT_NE(second, first);

    auto core = h.dir() / "xl-boot.core";
    auto dump = xl(h, {"dump-core", "xl-boot", core.string()});
    EXPECT_EQ(dump.status, 0) << dump.out;
    std::error_code ec;
    EXPECT_GT(std::filesystem::file_size(core, ec), 16u << 20);   // the guest's 16 MiB and the ELF notes
    std::ifstream f(core, std::ios::binary);
    char magic[4] = {};
    f.read(magic, 4);
    EXPECT_EQ(std::string(magic, 4), "\x7f" "ELF");
    EXPECT_FALSE(paused(xl_list_row(h, "xl-boot"))) << xl_list_row(h, "xl-boot");   // it runs on
    ASSERT_EQ(xl(h, {"destroy", "xl-boot"}).status, 0);
    EXPECT_TRUE(h.wait_gone("xl-boot"));
}

TEST_F(Xl, PausesShutsDownAndDestroysWhatItCreated) {
    ASSERT_EQ(xl_create(h, "xl-idle", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("xl-idle", "KXEN-TEST idle PASS"));
    ASSERT_EQ(xl(h, {"pause", "xl-idle"}).status, 0);
    EXPECT_TRUE(paused(xl_list_row(h, "xl-idle"))) << xl_list_row(h, "xl-idle");
    auto kxl_row = h.list_line("xl-idle");
    ASSERT_TRUE(kxl_row);   // kxl lists what xl created
    EXPECT_NE(kxl_row->find('p'), std::string::npos) << *kxl_row;
    ASSERT_EQ(xl(h, {"unpause", "xl-idle"}).status, 0);
    EXPECT_FALSE(paused(xl_list_row(h, "xl-idle"))) << xl_list_row(h, "xl-idle");
    // A new memory target reaches the guest's memory/target (libxl sets the PoD target first).
    auto memset = xl(h, {"mem-set", "xl-idle", "12m"});
    EXPECT_EQ(memset.status, 0) << memset.out;
    auto target = h.store()->try_read("/local/domain/" + std::to_string(h.domid("xl-idle")) + "/memory/target");
    EXPECT_EQ(target.value_or("(none)"), "12288");
    auto down = xl(h, {"shutdown", "-w", "xl-idle"});
    EXPECT_EQ(down.status, 0) << down.out;
    EXPECT_TRUE(h.wait_gone("xl-idle"));

    ASSERT_EQ(xl_create(h, "xl-gone", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("xl-gone", "KXEN-TEST idle PASS"));
    auto destroy = xl(h, {"destroy", "xl-gone"});
    EXPECT_EQ(destroy.status, 0) << destroy.out;
    EXPECT_TRUE(h.wait_gone("xl-gone"));

    // And kxl destroys a domain xl created.
    ASSERT_EQ(xl_create(h, "xl-kxl", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("xl-kxl", "KXEN-TEST idle PASS"));
    auto kd = h.kxl({"destroy", "xl-kxl"});
    EXPECT_EQ(kd.status, 0) << kd.out;
    EXPECT_TRUE(h.wait_gone("xl-kxl"));
    EXPECT_TRUE(xl_list_row(h, "xl-kxl").empty());
    EXPECT_TRUE(h.kxend_alive());
}

// xl's receiver takes the domain's own name only after it has reported to the sender.
bool wait_listed(Host const& h, std::string const& name) {
    for (int i = 0; i < 300; ++i) {
        if (h.domid(name)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

// xl save and xl restore, and each toolstack restoring the other's file (item 3d). The guest
// rewrites and checks 2 MiB of its memory all along (test=dirty); each restore must find it
// intact and the guest running on.
TEST_F(Xl, SavesAndRestoresAcrossKxl) {
    std::string const name = "xl-mem";
    auto file = [&](char const* f) { return (h.dir() / f).string(); };
    ASSERT_EQ(xl_create(h, name, "test=dirty rate=1 wss=2 report_ms=200").status, 0);
    ASSERT_TRUE(h.wait_console(name, " ok\n", std::chrono::seconds(60), 2)) << h.console_log(name);
    int restores = 0;
    // After each restore: a new domain, and the guest's checks go on passing in it.
    auto check_resumed = [&](char const* how) {
        ++restores;
        ASSERT_TRUE(h.wait_console(name, "resumed in a new domain", std::chrono::seconds(60), restores))
            << how << "\n" << h.console_log(name);
        int oks = occurrences(h.console_log(name), " ok\n");
        EXPECT_TRUE(h.wait_console(name, " ok\n", std::chrono::seconds(60), oks + 3)) << how << "\n" << h.console_log(name);
        EXPECT_EQ(h.console_log(name).find("FAIL"), std::string::npos) << how << "\n" << h.console_log(name);
    };

    auto s1 = xl(h, {"save", name, file("xl1.save")});
    ASSERT_EQ(s1.status, 0) << s1.out;
    EXPECT_TRUE(h.wait_gone(name));
    auto r1 = xl(h, {"restore", file("xl1.save")});
    ASSERT_EQ(r1.status, 0) << r1.out;
    check_resumed("xl save, xl restore");

    auto s2 = xl(h, {"save", name, file("xl2.save")});
    ASSERT_EQ(s2.status, 0) << s2.out;
    EXPECT_TRUE(h.wait_gone(name));
    auto r2 = h.kxl({"restore", file("xl2.save")});
    ASSERT_EQ(r2.status, 0) << r2.out;
    check_resumed("xl save, kxl restore");

    auto s3 = h.kxl({"save", name, file("kxl.save")});
    ASSERT_EQ(s3.status, 0) << s3.out;
    EXPECT_TRUE(h.wait_gone(name));
    auto r3 = xl(h, {"restore", file("kxl.save")});
    ASSERT_EQ(r3.status, 0) << r3.out;
    check_resumed("kxl save, xl restore");

    ASSERT_EQ(xl(h, {"destroy", name}).status, 0);
    EXPECT_TRUE(h.wait_gone(name));
    EXPECT_TRUE(h.kxend_alive());
}

// Item 4: each toolstack saves a domain the other created (xl through libxl's userdata that kxl
// keeps for its domains, kxl through the one xl keeps), and the guest runs on from each file.
TEST_F(Xl, EachSavesWhatTheOtherCreated) {
    auto file = [&](char const* f) { return (h.dir() / f).string(); };
    ASSERT_EQ(h.create("by-kxl", "test=dirty rate=1 wss=2 report_ms=200").status, 0);
    ASSERT_EQ(xl_create(h, "by-xl", "test=dirty rate=1 wss=2 report_ms=200").status, 0);
    for (auto const* n : {"by-kxl", "by-xl"})
        ASSERT_TRUE(h.wait_console(n, " ok\n", std::chrono::seconds(60), 2)) << h.console_log(n);

    auto xs = xl(h, {"save", "by-kxl", file("by-kxl.save")});
    ASSERT_EQ(xs.status, 0) << xs.out;
    EXPECT_TRUE(h.wait_gone("by-kxl"));
    auto kr = h.kxl({"restore", file("by-kxl.save")});
    ASSERT_EQ(kr.status, 0) << kr.out;

    auto ks = h.kxl({"save", "by-xl", file("by-xl.save")});
    ASSERT_EQ(ks.status, 0) << ks.out;
    EXPECT_TRUE(h.wait_gone("by-xl"));
    auto xr = xl(h, {"restore", file("by-xl.save")});
    ASSERT_EQ(xr.status, 0) << xr.out;

    for (auto const* n : {"by-kxl", "by-xl"}) {
        ASSERT_TRUE(h.wait_console(n, "resumed in a new domain")) << h.console_log(n);
        int oks = occurrences(h.console_log(n), " ok\n");
        EXPECT_TRUE(h.wait_console(n, " ok\n", std::chrono::seconds(60), oks + 3)) << h.console_log(n);
        EXPECT_EQ(h.console_log(n).find("FAIL"), std::string::npos) << h.console_log(n);
    }
}

// Two kxen hosts on this machine, and the ssh stand-in `xl migrate -s` and `kxl migrate -s` run:
// `STANDIN HOST COMMAND...` runs the command against the host whose directory HOST names.
class XlMigrate : public ::testing::Test {
protected:
    void SetUp() override {
        KXEN_REQUIRE_ACCEL();
        KXEN_REQUIRE_XEN_TOOLS();
        ASSERT_TRUE(a.started() && b.started());
        for (Host* h : {&a, &b}) ASSERT_EQ(xen_tool(*h, "xen-init-dom0", {}).status, 0);
        standin = (a.dir() / "ssh").string();
        std::ofstream f(standin);
        f << "#!/bin/sh\nhost=$1; shift\n"
          << "export KXEN_SOCKET=$host/privcmd XENSTORED_PATH=$host/state/xenstored/socket "
          << "PATH=" << (debs_root / "usr/lib/xen-4.17/bin").string() << ":" KXEN_BIN_DIR ":$PATH "
          << "LD_LIBRARY_PATH=" << xenlibs_dir.string() << ":" << (debs_root / "usr/lib/x86_64-linux-gnu").string() << "\n"
          << "exec sh -c \"$*\"\n";
        f.close();
        ::chmod(standin.c_str(), 0755);
        // Both hosts keep libxl's per-domain files in this process's one /var/lib/xen, named by
        // domain id and uuid; a migrated domain keeps its uuid, so its ids on the two hosts
        // must differ. a gives ids 1 and 2 to the test's domain; b's 1 and 2 go to domains of
        // its own.
        for (auto const* n : {"b-first", "b-second"}) ASSERT_EQ(b.create(n, "test=idle").status, 0);
    }
    void TearDown() override {
        kill_xen_tools(a);
        kill_xen_tools(b);
    }
    Host a, b;
    std::string standin;
};

// xl migrate between two kxen hosts, then kxl migrate of that domain back to an xl
// migrate-receive (item 3e). The guest checks its memory throughout (test=dirty).
TEST_F(XlMigrate, XlToXlThenKxlToXl) {
    std::string const name = "xl-mig";
    ASSERT_EQ(xl_create(a, name, "test=dirty rate=1 wss=2 report_ms=200").status, 0);
    ASSERT_TRUE(a.wait_console(name, " ok\n", std::chrono::seconds(60), 2)) << a.console_log(name);

    auto m1 = xl(a, {"migrate", "-s", standin, name, b.dir().string()});
    ASSERT_EQ(m1.status, 0) << m1.out;
    EXPECT_TRUE(a.wait_gone(name));
    ASSERT_TRUE(wait_listed(b, name)) << b.kxl({"list"}).out;
    // xl's receiver names the domain NAME--incoming until the handshake ends: the console
    // backend opened the log under that name.
    auto const on_b = name + "--incoming";
    ASSERT_TRUE(b.wait_console(on_b, "resumed in a new domain")) << b.console_log(on_b);
    int oks = occurrences(b.console_log(on_b), " ok\n");
    EXPECT_TRUE(b.wait_console(on_b, " ok\n", std::chrono::seconds(60), oks + 3)) << b.console_log(on_b);

    auto m2 = b.kxl({"migrate", "--receiver", "xl", "-s", standin, name, a.dir().string()});
    ASSERT_EQ(m2.status, 0) << m2.out;
    EXPECT_TRUE(b.wait_gone(name));
    ASSERT_TRUE(wait_listed(a, name)) << a.kxl({"list"}).out;
    auto const back = name + "--incoming";
    ASSERT_TRUE(a.wait_console(back, "resumed in a new domain")) << a.console_log(back);
    oks = occurrences(a.console_log(back), " ok\n");
    EXPECT_TRUE(a.wait_console(back, " ok\n", std::chrono::seconds(60), oks + 3)) << a.console_log(back);
    for (Host* h : {&a, &b}) {
        auto log = h->console_log(h == &a ? back : on_b);
        EXPECT_EQ(log.find("FAIL"), std::string::npos) << log;
    }
    EXPECT_EQ(xl(a, {"destroy", name}).status, 0);
    EXPECT_TRUE(a.kxend_alive() && b.kxend_alive());
}

} // namespace
} // namespace kxen::test
