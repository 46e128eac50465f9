// Debian's unmodified libvirt (libvirtd 9.0 with its libxl driver, and virsh) on kxend: how
// management stacks drive Xen (issue 10, item 3f). libvirtd runs in the test's own mount
// namespace with its runtime directories (/run/libvirt, /var/lib/libvirt) on tmpfs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include "xen_tools.hpp"

namespace kxen::test {
namespace {
namespace fs = std::filesystem;

fs::path const libvirtd_bin = debs_root / "usr/sbin/libvirtd";
fs::path const virsh_bin = debs_root / "usr/bin/virsh";

// Mounts an overlay on `dir` in this namespace: what is there stays visible, and what is written
// there goes to a tmpfs. Whatever is mounted below `dir` is put back on top of the overlay.
std::string overlay(std::string const& dir) {
    auto const base = "/run/kxen-overlay" + dir;
    fs::create_directories(base + "/upper");
    fs::create_directories(base + "/work");
    fs::create_directories(base + "/keep");
    std::vector<std::string> below;   // mount points under dir, outermost only
    std::ifstream mountinfo("/proc/self/mountinfo");
    for (std::string line; std::getline(mountinfo, line);) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, point;
        fields >> id >> parent >> devno >> root >> point;
        if (!point.starts_with(dir + "/")) continue;
        if (std::ranges::any_of(below, [&](auto const& b) { return point.starts_with(b + "/") || point == b; })) continue;
        below.push_back(point);
    }
    std::vector<std::pair<std::string, std::string>> kept;
    for (std::size_t i = 0; i < below.size(); ++i) {
        auto keep = base + "/keep/" + std::to_string(i);
        if (fs::is_directory(below[i])) fs::create_directory(keep);
        else std::ofstream{keep}.flush();
        if (::mount(below[i].c_str(), keep.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
            return "bind-mount " + below[i] + ": " + std::strerror(errno);
        kept.emplace_back(keep, below[i]);
    }
    auto opts = "lowerdir=" + dir + ",upperdir=" + base + "/upper,workdir=" + base + "/work";
    if (::mount("kxen-overlay", dir.c_str(), "overlay", 0, opts.c_str()) != 0)
        return "overlay on " + dir + ": " + std::strerror(errno);
    for (auto const& [keep, point] : kept)
        if (::mount(keep.c_str(), point.c_str(), nullptr, MS_MOVE, nullptr) != 0)
            return "move " + point + " back: " + std::strerror(errno);
    return {};
}

// libvirtd keeps defined domains in /etc/libvirt/libxl; here that is the namespace's own. And
// libvirt's libxl driver loads only on a Xen control domain: /proc/xen/capabilities saying
// "control_d", or else /dev/xen/xenstored present. procfs cannot gain a file, so /dev gets the
// second, empty: libxenstore reaches kxenstored through XENSTORED_PATH before it looks there.
std::string make_libvirt_dirs() {
    for (char const* dir : {"/etc", "/dev"})
        if (auto why = overlay(dir); !why.empty()) return why;
    for (char const* dir : {"/var/log/libvirt", "/dev/xen"}) ::mkdir(dir, 0755);
    if (!std::ofstream("/dev/xen/xenstored")) return "cannot create /dev/xen/xenstored";
    return {};
}

std::string libvirt_unavailable_reason() {
    static std::string const why = [] () -> std::string {
        if (!fs::exists(libvirtd_bin) || !fs::exists(virsh_bin))
            return "SKIPPED: Debian's libvirt-daemon and libvirt-clients are not unpacked at " + debs_root.string();
        if (auto w = make_libvirt_dirs(); !w.empty()) return "SKIPPED: " + w;
        return {};
    }();
    return why;
}

std::vector<std::pair<std::string, std::string>> libvirt_env(Host const& h) {
    auto env = xen_tool_env(h);
    env.emplace_back("LIBVIRT_DRIVER_DIR", (debs_root / "usr/lib/x86_64-linux-gnu/libvirt/connection-driver").string());
    return env;
}

std::vector<std::string> virsh_argv(std::vector<std::string> const& args) {
    std::vector<std::string> argv{virsh_bin.string(), "-c", "xen:///system"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

Run virsh(Host const& h, std::vector<std::string> const& args) { return run(virsh_argv(args), libvirt_env(h)); }

// What `virsh domstate` says once it says `want` (within `timeout`), or what it said last.
std::string wait_domstate(Host const& h, std::string const& name, std::string const& want,
                          std::chrono::seconds timeout = std::chrono::seconds(60)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    std::string last;
    do {
        last = virsh(h, {"domstate", name}).out;
        if (last.starts_with(want)) return want;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } while (std::chrono::steady_clock::now() < end);
    return last;
}

// The domain XML a libvirt user writes for a PVH guest (libvirt's "xenpvh" OS type).
std::string minios_xml(std::string const& name, std::string const& cmdline) {
    return "<domain type='xen'>\n"
           "  <name>" + name + "</name>\n"
           "  <memory unit='MiB'>16</memory>\n"
           "  <vcpu>1</vcpu>\n"
           "  <os>\n"
           "    <type arch='x86_64' machine='xenpvh'>xenpvh</type>\n"
           "    <kernel>" KXEN_GUEST "</kernel>\n"
           "    <cmdline>" + cmdline + "</cmdline>\n"
           "  </os>\n"
           "  <on_poweroff>destroy</on_poweroff>\n"
           "  <on_reboot>restart</on_reboot>\n"
           "  <on_crash>destroy</on_crash>\n"
           "  <devices>\n"
           "    <console type='pty'><target type='xen' port='0'/></console>\n"
           "  </devices>\n"
           "</domain>\n";
}

class Libvirt : public ::testing::Test {
protected:
    void SetUp() override {
        KXEN_REQUIRE_ACCEL();
        KXEN_REQUIRE_XEN_TOOLS();
        if (auto why = libvirt_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
        ASSERT_TRUE(h.started());
        auto init = xen_tool(h, "xen-init-dom0", {});
        ASSERT_EQ(init.status, 0) << init.out;
        // An empty configuration: libvirt's defaults, whatever /etc/libvirt this machine has.
        std::ofstream(h.dir() / "libvirtd.conf").flush();
        pidfile = h.dir() / "libvirtd.pid";
        // -d returns once libvirtd listens; clients wait until its drivers have started.
        auto env = libvirt_env(h);
        env.emplace_back("LIBVIRT_LOG_OUTPUTS", "3:file:" + (h.dir() / "libvirtd.log").string());
        auto d = run({libvirtd_bin.string(), "-d", "-f", (h.dir() / "libvirtd.conf").string(), "-p", pidfile.string()},
                     env);
        ASSERT_EQ(d.status, 0) << d.out;
    }
    void TearDown() override {
        if (std::ifstream f{pidfile}; f) {
            pid_t pid = 0;
            if (f >> pid && pid > 0 && ::kill(pid, SIGTERM) == 0)
                for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i)
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        kill_xen_tools(h);
    }
    // virsh define of a minios domain whose XML is written where the test's files go.
    void define(std::string const& name, std::string const& cmdline) {
        auto xml = h.dir() / (name + ".xml");
        std::ofstream(xml) << minios_xml(name, cmdline);
        auto r = virsh(h, {"define", xml.string()});
        ASSERT_EQ(r.status, 0) << r.out;
    }
    Host h;
    fs::path pidfile;
};

TEST_F(Libvirt, ListsDefinesStartsAndAttachesTheConsole) {
    auto list = virsh(h, {"list", "--all"});
    ASSERT_EQ(list.status, 0) << list.out;
    EXPECT_NE(list.out.find("Domain-0   running"), std::string::npos) << list.out;
    auto version = virsh(h, {"version"});
    EXPECT_NE(version.out.find("Running hypervisor: Xen 4.17"), std::string::npos) << version.out;

    ASSERT_NO_FATAL_FAILURE(define("lv-echo", "test=console-echo"));
    EXPECT_EQ(wait_domstate(h, "lv-echo", "shut off", std::chrono::seconds(5)), "shut off");
    auto start = virsh(h, {"start", "lv-echo"});
    ASSERT_EQ(start.status, 0) << start.out;
    EXPECT_EQ(wait_domstate(h, "lv-echo", "running"), "running");
    ASSERT_TRUE(h.wait_console("lv-echo", "console-echo: ready"));
    EXPECT_TRUE(h.list_line("lv-echo").has_value());   // kxl sees what libvirt built
    auto xml = virsh(h, {"dumpxml", "lv-echo"});
    EXPECT_NE(xml.out.find("<console type='pty' tty='/dev/pts/"), std::string::npos) << xml.out;
    // What libxl reports of the host and the domain, through libvirt.
    auto node = virsh(h, {"nodeinfo"});
    EXPECT_NE(node.out.find("NUMA cell(s):        1"), std::string::npos) << node.out;
    auto info = virsh(h, {"dominfo", "lv-echo"});
    EXPECT_NE(info.out.find("OS Type:        xenpvh"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("Max memory:     16384 KiB"), std::string::npos) << info.out;
    auto vcpu = virsh(h, {"vcpuinfo", "lv-echo"});
    EXPECT_NE(vcpu.out.find("VCPU:           0"), std::string::npos) << vcpu.out;
    auto sched = virsh(h, {"schedinfo", "lv-echo"});
    EXPECT_NE(sched.out.find("Scheduler      : credit"), std::string::npos) << sched.out;
    // xl.cfg to domain XML: the same examples/minios.cfg xl and kxl take.
    auto native = virsh(h, {"domxml-from-native", "xen-xl", std::string(KXEN_EXAMPLES) + "/minios.cfg"});
    EXPECT_NE(native.out.find("machine='xenpvh'"), std::string::npos) << native.out;

    // virsh console streams the pty kxen-backend named in console/tty through libvirtd.
    OnPty console{virsh_argv({"console", "lv-echo"}), libvirt_env(h)};
    ASSERT_TRUE(console.started());
    ASSERT_TRUE(console.wait_for("console-echo: ready", std::chrono::seconds(30))) << console.screen();
    ASSERT_TRUE(console.type("typed-through-virsh\r"));
    EXPECT_TRUE(console.wait_for("echo: typed-through-virsh", std::chrono::seconds(30))) << console.screen();
    ASSERT_TRUE(console.type("quit\r"));
    EXPECT_TRUE(console.wait_for("KXEN-TEST console-echo PASS", std::chrono::seconds(30))) << console.screen();
    // The guest powers off; libvirt acts on <on_poweroff>destroy</on_poweroff>.
    EXPECT_EQ(wait_domstate(h, "lv-echo", "shut off"), "shut off");
    EXPECT_TRUE(h.wait_gone("lv-echo"));
    EXPECT_TRUE(h.kxend_alive());
}

TEST_F(Libvirt, ShutsDownRebootsDestroysAndUndefines) {
    ASSERT_NO_FATAL_FAILURE(define("lv-idle", "test=idle"));
    ASSERT_EQ(virsh(h, {"start", "lv-idle"}).status, 0);
    ASSERT_TRUE(h.wait_console("lv-idle", "KXEN-TEST idle PASS"));
    // Through control/shutdown in the store: the guest powers itself off.
    auto down = virsh(h, {"shutdown", "lv-idle"});
    EXPECT_EQ(down.status, 0) << down.out;
    EXPECT_EQ(wait_domstate(h, "lv-idle", "shut off"), "shut off");
    EXPECT_TRUE(h.wait_gone("lv-idle"));
    EXPECT_TRUE(h.wait_console("lv-idle", "control: shutdown request poweroff"));

    // A defined domain starts again; reboot builds it anew (a new domain id), and destroy
    // ends it without asking the guest.
    ASSERT_EQ(virsh(h, {"start", "lv-idle"}).status, 0);
    ASSERT_TRUE(h.wait_console("lv-idle", "KXEN-TEST idle PASS", std::chrono::seconds(60), 2));
    auto before = h.domid("lv-idle");
    auto reboot = virsh(h, {"reboot", "lv-idle"});
    EXPECT_EQ(reboot.status, 0) << reboot.out;
    ASSERT_TRUE(h.wait_console("lv-idle", "KXEN-TEST idle PASS", std::chrono::seconds(60), 3)) << h.console_log("lv-idle");
    EXPECT_NE(h.domid("lv-idle"), before);
    auto destroy = virsh(h, {"destroy", "lv-idle"});
    EXPECT_EQ(destroy.status, 0) << destroy.out;
    EXPECT_EQ(wait_domstate(h, "lv-idle", "shut off"), "shut off");
    EXPECT_TRUE(h.wait_gone("lv-idle"));

    auto undefine = virsh(h, {"undefine", "lv-idle"});
    EXPECT_EQ(undefine.status, 0) << undefine.out;
    EXPECT_EQ(virsh(h, {"list", "--all"}).out.find("lv-idle"), std::string::npos);
    EXPECT_TRUE(h.kxend_alive());
}

// What a management stack does to a running guest: pause and resume, a new memory target (the
// guest's balloon reads it from the store), save and restore. The guest rewrites and checks
// 2 MiB of its memory all along (test=dirty) and must find it intact after the restore.
TEST_F(Libvirt, SuspendsResumesSetsMemorySavesAndRestores) {
    ASSERT_NO_FATAL_FAILURE(define("lv-mem", "test=dirty rate=1 wss=2 report_ms=200"));
    ASSERT_EQ(virsh(h, {"start", "lv-mem"}).status, 0);
    ASSERT_TRUE(h.wait_console("lv-mem", " ok\n", std::chrono::seconds(60), 2)) << h.console_log("lv-mem");

    auto suspend = virsh(h, {"suspend", "lv-mem"});
    EXPECT_EQ(suspend.status, 0) << suspend.out;
    EXPECT_EQ(wait_domstate(h, "lv-mem", "paused", std::chrono::seconds(5)), "paused");
    auto row = h.list_line("lv-mem");
    ASSERT_TRUE(row);
    EXPECT_NE(row->find('p'), std::string::npos) << *row;   // kxl sees the pause
    EXPECT_EQ(virsh(h, {"resume", "lv-mem"}).status, 0);
    EXPECT_EQ(wait_domstate(h, "lv-mem", "running", std::chrono::seconds(5)), "running");

    // libxl writes the target to memory/target after XENMEM_set_pod_target.
    auto setmem = virsh(h, {"setmem", "lv-mem", "12M", "--live"});
    EXPECT_EQ(setmem.status, 0) << setmem.out;
    auto target = h.store()->try_read("/local/domain/" + std::to_string(h.domid("lv-mem")) + "/memory/target");
    EXPECT_EQ(target.value_or("(none)"), "12288");
    // Back to all of it before the save: minios has no balloon driver, so it still holds 16 MiB,
    // and libxl's restore gives the new domain its target plus 1 MiB (Xen refuses the rest too).
    EXPECT_EQ(virsh(h, {"setmem", "lv-mem", "16M", "--live"}).status, 0);
    target = h.store()->try_read("/local/domain/" + std::to_string(h.domid("lv-mem")) + "/memory/target");
    EXPECT_EQ(target.value_or("(none)"), "16384");

    auto file = (h.dir() / "lv-mem.save").string();
    auto save = virsh(h, {"save", "lv-mem", file});
    ASSERT_EQ(save.status, 0) << save.out;
    EXPECT_EQ(wait_domstate(h, "lv-mem", "shut off"), "shut off");
    EXPECT_TRUE(h.wait_gone("lv-mem"));
    auto restore = virsh(h, {"restore", file});
    ASSERT_EQ(restore.status, 0) << restore.out;
    EXPECT_EQ(wait_domstate(h, "lv-mem", "running"), "running");
    ASSERT_TRUE(h.wait_console("lv-mem", "resumed in a new domain")) << h.console_log("lv-mem");
    int oks = occurrences(h.console_log("lv-mem"), " ok\n");
    EXPECT_TRUE(h.wait_console("lv-mem", " ok\n", std::chrono::seconds(60), oks + 3)) << h.console_log("lv-mem");
    EXPECT_EQ(h.console_log("lv-mem").find("FAIL"), std::string::npos) << h.console_log("lv-mem");

    EXPECT_EQ(virsh(h, {"destroy", "lv-mem"}).status, 0);
    EXPECT_TRUE(h.wait_gone("lv-mem"));
    EXPECT_TRUE(h.kxend_alive());
}

} // namespace
} // namespace kxen::test
