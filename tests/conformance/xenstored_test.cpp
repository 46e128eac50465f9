// Debian's C xenstored (Xen 4.17) as the host's store on kxend: it maps each guest's store
// page by grant (GNTTAB_RESERVED_XENSTORE, seeded by kxl as libxc does), binds its event
// channels and VIRQ_DOM_EXC through the drop-in libraries, and a minios guest's xenbus test
// passes against it (issue 10, item 3a).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
extern "C" {
#include <xenevtchn.h>
}
#include "xen_tools.hpp"

namespace kxen::test {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What a Linux dom0 kernel gives xenstored in /proc/xen: the port of dom0's own store
// connection (xsd_port) and its ring page (xsd_kva). /proc cannot grow a directory, so the
// child sees a tmpfs /proc of links into a procfs mounted beside it, plus xen/.
int make_proc_xen(fs::path const& dir, int port) {
    if (::unshare(CLONE_NEWNS) != 0) return 1;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 2;
    auto real = dir / "proc";
    fs::create_directories(real);
    if (::mount("proc", real.c_str(), "proc", 0, nullptr) != 0) return 3;
    if (::mount("kxen-proc", "/proc", "tmpfs", 0, "mode=0755") != 0) return 4;
    std::error_code ec;
    for (auto const& e : fs::directory_iterator(real, ec))
        fs::create_symlink(e.path(), fs::path("/proc") / e.path().filename(), ec);
    ::mkdir("/proc/xen", 0755);
    std::ofstream{"/proc/xen/xsd_port"} << port;
    int kva = ::open("/proc/xen/xsd_kva", O_RDWR | O_CREAT, 0600);
    if (kva < 0 || ::ftruncate(kva, 4096) != 0) return 5;
    ::close(kva);
    for (char const* d : {"/var/lib/xenstored", "/run/xenstored"}) ::mkdir(d, 0755);
    return 0;
}

// What oxenstored does first: RLIMIT_NOFILE to 1048576 (tried in a child, to leave ours be).
bool can_raise_nofile() {
    pid_t pid = ::fork();
    if (pid == 0) {
        rlimit r{1u << 20, 1u << 20};
        ::_exit(::setrlimit(RLIMIT_NOFILE, &r) == 0 ? 0 : 1);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool answers(fs::path const& socket) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, socket.c_str(), sizeof a.sun_path - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

// The daemon: Xen's C xenstored, or its OCaml oxenstored.
class DebianXenstored : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        KXEN_REQUIRE_ACCEL();
        KXEN_REQUIRE_XEN_TOOLS();
        if (GetParam() == "oxenstored" && !can_raise_nofile())
            GTEST_SKIP() << "SKIPPED: oxenstored sets RLIMIT_NOFILE to 1048576 at start and exits when that "
                            "fails, as it does here (no CAP_SYS_RESOURCE over the hard limit)";
        ASSERT_TRUE(h.started());
        // The dom0 kernel's side of dom0's store connection: a port offered to dom0.
        ::setenv("KXEN_SOCKET", h.socket().c_str(), 1);
        dom0_kernel = xenevtchn_open(nullptr, 0);
        ASSERT_NE(dom0_kernel, nullptr) << std::strerror(errno);
        int port = xenevtchn_bind_unbound_port(dom0_kernel, 0);
        ASSERT_GT(port, 0) << std::strerror(errno);
        auto store_dir = h.state() / "xenstored";
        fs::create_directories(store_dir);
        socket = store_dir / "socket";
        auto bin = (debs_root / "usr/lib/xen-4.17/bin" / GetParam()).string();
        auto libs = xenlibs_dir.string() + ":" + (debs_root / "usr/lib/x86_64-linux-gnu").string();
        auto log_path = h.dir() / "xenstored.log";
        pid = ::fork();
        if (pid == 0) {
            int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(log, 1);
            ::dup2(log, 2);
            if (int r = make_proc_xen(h.dir(), port); r != 0) ::_exit(100 + r);
            ::setenv("XENSTORED_PATH", socket.c_str(), 1);
            ::setenv("XENSTORED_RUNDIR", store_dir.c_str(), 1);
            ::setenv("LD_LIBRARY_PATH", libs.c_str(), 1);
            ::execl(bin.c_str(), bin.c_str(), "--no-fork", "--verbose", nullptr);
            ::_exit(127);
        }
        for (int i = 0; i < 400 && !answers(socket); ++i) {
            int st;
            if (::waitpid(pid, &st, WNOHANG) == pid) {
                pid = -1;
                FAIL() << "xenstored exited (" << st << "):\n" << read(log_path);
            }
            std::this_thread::sleep_for(25ms);
        }
        ASSERT_TRUE(answers(socket)) << read(log_path);
    }
    void TearDown() override {
        if (pid > 0) {
            ::kill(pid, SIGTERM);
            ::waitpid(pid, nullptr, 0);
        }
        if (dom0_kernel) xenevtchn_close(dom0_kernel);
    }
    static std::string read(fs::path const& p) {
        std::ifstream f{p};
        return {std::istreambuf_iterator<char>{f}, {}};
    }
    Host h{Host::Options{.kxenstored = false}};
    xenevtchn_handle* dom0_kernel = nullptr;
    fs::path socket;
    pid_t pid = -1;
};

TEST_P(DebianXenstored, MiniosXenbusTestPasses) {
    auto c = h.create("xb", "test=xenbus");
    ASSERT_EQ(c.status, 0) << c.out << read(h.dir() / "xenstored.log");
    EXPECT_TRUE(h.wait_console("xb", "KXEN-TEST xenbus PASS", 60s))
        << h.console_log("xb") << h.kxend_log() << read(h.dir() / "xenstored.log");
    EXPECT_EQ(h.console_log("xb").find("FAIL"), std::string::npos) << h.console_log("xb");
    // The guest powers off at the end of its test and kxl's watcher destroys it.
    EXPECT_TRUE(h.wait_gone("xb"));
}

INSTANTIATE_TEST_SUITE_P(Xen417, DebianXenstored, ::testing::Values("xenstored", "oxenstored"),
                         [](auto const& p) { return p.param; });

} // namespace
} // namespace kxen::test
