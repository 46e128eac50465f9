// kxen's drop-in Xen libraries (src/xenlibs): Debian's symbols and versions, the errors Xen
// gives where there is no hypervisor or no right to it, and a client killed in the middle of
// its calls (issue 10).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>
extern "C" {
#include <xencall.h>
#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xengnttab.h>
}
#include <xen/version.h>
#include "common/unique_fd.hpp"
#include "privcmd/protocol.hpp"
#include "xen_tools.hpp"

namespace kxen::test {
namespace {
namespace fs = std::filesystem;

// objdump -T's functions: "VERSION name" for each one a library defines.
std::set<std::string> exported(fs::path const& lib) {
    std::set<std::string> out;
    std::string cmd = "objdump -T '" + lib.string() + "'";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    char line[512];
    while (std::fgets(line, sizeof line, p)) {
        std::string l{line};
        if (l.find(" DF .text") == std::string::npos) continue;
        auto name_at = l.find_last_of(' ');
        auto name = l.substr(name_at + 1);
        if (!name.empty() && name.back() == '\n') name.pop_back();
        auto ver_end = l.find_last_not_of(' ', name_at);
        auto ver_at = l.find_last_of(' ', ver_end);
        out.insert(l.substr(ver_at + 1, ver_end - ver_at) + " " + name);
    }
    ::pclose(p);
    return out;
}

TEST(XenLibs, ExportDebiansSymbolsWithTheirVersions) {
    fs::path const debian = debs_root / "usr/lib/x86_64-linux-gnu";
    if (!fs::exists(debian / "libxencall.so.1")) GTEST_SKIP() << "SKIPPED: Debian's Xen libraries are not at " << debian;
    for (char const* lib : {"libxencall.so.1", "libxenevtchn.so.1", "libxenforeignmemory.so.1", "libxengnttab.so.1",
                            "libxendevicemodel.so.1", "libxentoolcore.so.1"}) {
        auto ours = exported(xenlibs_dir / lib);
        auto theirs = exported(debian / lib);
        EXPECT_FALSE(theirs.empty()) << lib;
        EXPECT_EQ(ours, theirs) << lib;
    }
}

// Opens each library's handle with KXEN_SOCKET at `path`; the errno of each failure (0: opened).
std::array<int, 5> open_all(std::string const& path) {
    ::setenv("KXEN_SOCKET", path.c_str(), 1);
    std::array<int, 5> e{};
    auto check = [](void* h, auto close) {
        if (h) {
            close(h);
            return 0;
        }
        return errno;
    };
    e[0] = check(xencall_open(nullptr, 0), [](void* h) { xencall_close(static_cast<xencall_handle*>(h)); });
    e[1] = check(xenevtchn_open(nullptr, 0), [](void* h) { xenevtchn_close(static_cast<xenevtchn_handle*>(h)); });
    e[2] = check(xengnttab_open(nullptr, 0), [](void* h) { xengnttab_close(static_cast<xengnttab_handle*>(h)); });
    e[3] = check(xenforeignmemory_open(nullptr, 0),
                 [](void* h) { xenforeignmemory_close(static_cast<xenforeignmemory_handle*>(h)); });
    e[4] = check(xendevicemodel_open(nullptr, 0),
                 [](void* h) { xendevicemodel_close(static_cast<xendevicemodel_handle*>(h)); });
    return e;
}

TEST(XenLibs, WithoutKxendOpenFailsAsWithoutXensDevices) {
    auto dir = fs::temp_directory_path() / ("kxen-xenlibs-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    // No socket at all.
    for (int e : open_all((dir / "missing").string())) EXPECT_EQ(e, ENOENT);
    // A socket file nobody listens on (kxend died).
    {
        UniqueFd s{::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)};
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        auto p = (dir / "dead").string();
        std::strncpy(a.sun_path, p.c_str(), sizeof a.sun_path - 1);
        ASSERT_EQ(::bind(s.raw(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    auto t0 = std::chrono::steady_clock::now();
    for (int e : open_all((dir / "dead").string())) EXPECT_EQ(e, ENOENT);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));   // never hangs
    fs::remove_all(dir);
}

// A kxend that dies under a connected client: the next call fails at once with EIO.
TEST(XenLibs, CallsFailWhenKxendGoesAway) {
    KXEN_REQUIRE_ACCEL();
    auto h = std::make_unique<Host>();
    ASSERT_TRUE(h->started());
    ::setenv("KXEN_SOCKET", h->socket().c_str(), 1);
    auto* xc = xencall_open(nullptr, 0);
    ASSERT_NE(xc, nullptr) << std::strerror(errno);
    auto* buf = static_cast<char*>(xencall_alloc_buffer(xc, sizeof(xen_extraversion_t)));
    ASSERT_NE(buf, nullptr);
    EXPECT_EQ(xencall2(xc, __HYPERVISOR_xen_version, XENVER_extraversion, reinterpret_cast<std::uint64_t>(buf)), 0);
    EXPECT_STREQ(buf, ".0-kxen");
    ::kill(h->kxend_pid(), SIGKILL);
    h.reset();
    errno = 0;
    EXPECT_EQ(xencall2(xc, __HYPERVISOR_xen_version, XENVER_extraversion, reinterpret_cast<std::uint64_t>(buf)), -1);
    EXPECT_EQ(errno, EIO);
    xencall_free_buffer(xc, buf);
    xencall_close(xc);
}

TEST(XenLibs, UnprivilegedUserCannotOpenTheChannel) {
    KXEN_REQUIRE_ACCEL();
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root to become another user";
    Host h;
    ASSERT_TRUE(h.started());
    pid_t pid = ::fork();
    if (pid == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(100);
        auto e = open_all(h.socket());
        for (int x : e)
            if (x != EACCES) ::_exit(1 + (x & 0x3f));
        ::_exit(0);
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0) << "a library opened, or failed with another errno than EACCES";
}

std::size_t open_fds(pid_t pid) {
    std::size_t n = 0;
    for ([[maybe_unused]] auto const& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++n;
    return n;
}

// A dom0 process using the libraries (ports bound, guest pages mapped, hypercalls in flight) is killed at random points: kxend stays up, keeps its guest running and frees
// what the process held (its descriptors come back to where they were).
TEST(XenLibs, ClientKilledMidCallLeavesKxendHealthyAndReleasesWhatItHeld) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    ASSERT_EQ(h.create("minios", "test=idle").status, 0);
    ASSERT_TRUE(h.wait_console("minios", "idle"));
    std::uint32_t domid = h.domid("minios");
    ::setenv("KXEN_SOCKET", h.socket().c_str(), 1);
    // Settle first: the services' own connections are open by now.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto before = open_fds(h.kxend_pid());
    for (int round = 0; round < 10; ++round) {
        int ready[2];
        ASSERT_EQ(::pipe(ready), 0);
        pid_t pid = ::fork();
        if (pid == 0) {
            auto* ce = xenevtchn_open(nullptr, 0);
            auto* gt = xengnttab_open(nullptr, 0);
            auto* fm = xenforeignmemory_open(nullptr, 0);
            auto* xc = xencall_open(nullptr, 0);
            if (!ce || !gt || !fm || !xc) ::_exit(1);
            for (int i = 0; i < 16; ++i)
                if (xenevtchn_bind_unbound_port(ce, domid) < 0) ::_exit(2);
            // (kxl does not seed the guest's reserved grant entries as libxc does, so there is no
            // grant to map without the guest's help: the handle stays open, empty.)
            xen_pfn_t pfns[16];
            for (int i = 0; i < 16; ++i) pfns[i] = 0x100 + static_cast<xen_pfn_t>(i);
            int err[16];
            if (!xenforeignmemory_map(fm, domid, PROT_READ, 16, pfns, err)) ::_exit(4);
            auto* buf = xencall_alloc_buffer(xc, 64);
            (void)!::write(ready[1], "r", 1);
            while (true) (void)xencall2(xc, __HYPERVISOR_xen_version, XENVER_extraversion,
                                        reinterpret_cast<std::uint64_t>(buf));
        }
        ::close(ready[1]);
        char c = 0;
        if (::read(ready[0], &c, 1) != 1) {
            int st = 0;
            ::waitpid(pid, &st, 0);
            FAIL() << "the client could not set up (round " << round << "): exit " << WEXITSTATUS(st);
        }
        ::close(ready[0]);
        std::this_thread::sleep_for(std::chrono::milliseconds(1 + (round * 7) % 23));
        ::kill(pid, SIGKILL);
        int st = 0;
        ::waitpid(pid, &st, 0);
        ASSERT_TRUE(h.kxend_alive()) << "round " << round;
    }
    // kxend notices each closed connection on its own time: wait for the count to settle.
    std::size_t after = 0;
    for (int i = 0; i < 100; ++i) {
        after = open_fds(h.kxend_pid());
        if (after <= before) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_LE(after, before) << "kxend holds descriptors the killed clients left";
    // The guest still runs, and its store ring is still served.
    EXPECT_TRUE(h.list_line("minios"));
    auto r = h.kxl({"list"});
    EXPECT_EQ(r.status, 0) << r.out;
}

} // namespace
} // namespace kxen::test
