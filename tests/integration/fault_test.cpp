// Daemons and tools killed with SIGKILL in the middle of their work while guests run:
// kxenstored during guest transactions and watches, kxen-backend while a guest writes its
// console, the sending `kxl migrate` and `kxl migrate-receive` at random points of a live
// migration. Afterwards kxend has restarted its services, the store holds what was
// committed, the guest runs on exactly one host, nothing half-built is left, and kxend has
// leaked neither descriptors nor memory. Each test says what Xen would have lost.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fmt/format.h>
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include "blk_image.hpp"
#include "host.hpp"

using namespace kxen::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using clock_type = std::chrono::steady_clock;

std::mt19937& rng() {
    static std::mt19937 r{std::random_device{}()};
    return r;
}

int uniform(int lo, int hi) { return std::uniform_int_distribution<int>{lo, hi}(rng()); }

// The pid of `parent`'s child whose command is `comm` (a kxend service), or -1.
pid_t child_named(pid_t parent, std::string const& comm) {
    std::error_code ec;
    for (auto const& e : fs::directory_iterator("/proc", ec)) {
        auto name = e.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        std::ifstream f(e.path() / "stat");
        std::string line;
        if (!std::getline(f, line)) continue;
        auto l = line.find('('), r = line.rfind(')');
        if (l == std::string::npos || r == std::string::npos || line.substr(l + 1, r - l - 1) != comm) continue;
        std::istringstream rest(line.substr(r + 2));
        char state;
        pid_t ppid = 0;
        rest >> state >> ppid;
        if (ppid == parent && state != 'Z') return std::stoi(name);
    }
    return -1;
}

// Kills kxend's `comm` and waits until kxend has started another; the new pid, or -1.
pid_t kill_service(Host const& h, std::string const& comm) {
    pid_t old = child_named(h.kxend_pid(), comm);
    if (old <= 0) return -1;
    ::kill(old, SIGKILL);
    for (auto end = clock_type::now() + 15s; clock_type::now() < end; std::this_thread::sleep_for(20ms)) {
        pid_t now = child_named(h.kxend_pid(), comm);
        if (now > 0 && now != old) return now;
    }
    return -1;
}

std::size_t fd_count(pid_t pid) {
    std::error_code ec;
    std::size_t n = 0;
    for (auto it = fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec); !ec && it != fs::directory_iterator();
         it.increment(ec))
        ++n;
    return n;
}

// Anonymous resident memory (kB): the heap. Guest RAM is kxend's shared memfd and counted
// apart (RssShmem), so it follows the guest from host to host without looking like a leak.
long rss_anon_kb(pid_t pid) {
    std::ifstream f(fmt::format("/proc/{}/status", pid));
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
    return -1;
}

// Runs kxl against `h` in the background, its output to `out`.
pid_t spawn_kxl(Host const& h, std::vector<std::string> const& args, fs::path const& out) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::setenv("KXEN_SOCKET", h.socket().c_str(), 1);
        ::unsetenv("XENSTORED_PATH");
        std::string kxl = std::string(KXEN_BIN_DIR) + "/kxl";
        std::vector<char*> argv{kxl.data()};
        for (auto const& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(kxl.c_str(), argv.data());
        ::_exit(127);
    }
    return pid;
}

std::string slurp(fs::path const& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// The `kxl list` lines of domains whose name starts with `name` (with a migration's
// --incoming or --migratedaway, too).
std::vector<std::string> guest_lines(Host const& h, std::string const& name) {
    std::vector<std::string> out;
    std::istringstream in(h.kxl({"list"}).out);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name, 0) == 0) out.push_back(line);
    return out;
}

// What is wrong with the hosts' state after a migration was killed: the guest must run
// (neither paused nor shut down) under its own name on exactly one of them, with no other
// copy anywhere, and each store must hold trees only for domains that exist. Empty if right.
std::string misplaced(Host const& a, Host const& b, std::string const& name, Host const** where) {
    auto la = guest_lines(a, name), lb = guest_lines(b, name);
    std::string all = fmt::format("A: [{}] B: [{}]", fmt::join(la, " | "), fmt::join(lb, " | "));
    if (la.size() + lb.size() != 1) return "the guest is on " + std::to_string(la.size() + lb.size()) + " hosts: " + all;
    Host const& h = la.empty() ? b : a;
    std::string const line = la.empty() ? lb[0] : la[0];
    if (line.rfind(name + " ", 0) != 0) return "the guest has a migration's name: " + all;
    std::istringstream in(line);
    std::string n, state;
    unsigned id = 0, mem = 0, vcpus = 0;
    in >> n >> id >> mem >> vcpus >> state;
    if (state.size() < 4 || state[2] == 'p' || state[3] == 's') return "the guest does not run: " + all;
    for (Host const* x : {&a, &b}) {
        auto s = x->store();
        if (!s) return "no store";
        auto homes = s->directory("/local/domain");
        if (!homes) return "no /local/domain";
        for (auto const& d : *homes)
            if (d != "0" && !(x == &h && d == std::to_string(id)))
                return fmt::format("{}'s store keeps /local/domain/{} ({})", x == &a ? "A" : "B", d, all);
    }
    *where = &h;
    return {};
}

// Waits for kxend (its guards) and kxenstored (its once-a-second sweep of dead domains) to
// have tidied up after a killed tool.
std::string wait_placed(Host const& a, Host const& b, std::string const& name, Host const** where) {
    std::string why;
    for (auto end = clock_type::now() + 15s; clock_type::now() < end; std::this_thread::sleep_for(100ms))
        if ((why = misplaced(a, b, name, where)).empty()) return {};
    return why;
}

int ok_reports(std::string const& log) {
    int n = 0;
    for (auto p = log.find("dirty: t="); p != std::string::npos; p = log.find("dirty: t=", p + 1)) {
        auto eol = log.find('\n', p);
        if (eol != std::string::npos && log.compare(eol - 3, 3, " ok") == 0) ++n;
    }
    return n;
}

// The guest's memory check goes on where it runs now: more verified reports, no FAIL.
::testing::AssertionResult still_verifying(Host const& h, std::string const& name) {
    int before = ok_reports(h.console_log(name));
    for (auto end = clock_type::now() + 60s; clock_type::now() < end; std::this_thread::sleep_for(200ms)) {
        auto log = h.console_log(name);
        if (log.find("FAIL") != std::string::npos) return ::testing::AssertionFailure() << log;
        if (ok_reports(log) >= before + 3) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "no new verified reports:\n" << h.console_log(name);
}

struct Usage {
    std::size_t fds = 0;
    long anon_kb = 0;
};
Usage usage(Host const& a, Host const& b) {
    return {fd_count(a.kxend_pid()) + fd_count(b.kxend_pid()), rss_anon_kb(a.kxend_pid()) + rss_anon_kb(b.kxend_pid())};
}

}  // namespace

// kxenstored killed five times while a guest loops over transactions (three nodes each) and
// holds a watch, and a dom0 client commits transactions of its own.
//
// Xen's C xenstored keeps its state only across a live update (xenstore-control
// live-update); killed, it takes the whole store with it (its database lives in memory), the
// restarted daemon knows no domain, and the guests' rings, connections, transactions and
// watches are gone until the domains are rebuilt (oxenstored likewise). kxen's
// kxenstored journals every commit before its reply goes out and, restarted by kxend,
// re-attaches to the rings of the domains it had introduced and re-registers their watches,
// each firing once: what the dead daemon had queued is not lost to the watcher. A request
// the dead daemon had read but not answered is lost; the guest times it out and retries.
//
// A guest read inside a transaction that the restarted daemon does not know gets ENOENT, as
// from Xen's xenstored; xs-loop tells that from a lost node by reading outside the transaction.
TEST(Fault, KilledStoreComesBackWithWhatWasCommittedAndGuestCarriesOn) {
    KXEN_REQUIRE_ACCEL();
    ::signal(SIGPIPE, SIG_IGN);   // the dom0 client writes to daemons that die under it
    Host h;
    ASSERT_EQ(h.create("xsl", "test=xs-loop").status, 0);
    ASSERT_TRUE(h.wait_console("xsl", "xs-loop: committed 50 ", 90s)) << h.console_log("xsl");
    auto const domid = h.domid("xsl");
    ASSERT_NE(domid, 0);
    std::string const host_node = fmt::format("/local/domain/{}/data/host", domid);

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> committed{0}, attempted{0}, reconnects{0};
    std::string const socket = (h.state() / "xenstored" / "socket").string();
    std::thread client{[&] {
        std::optional<kxen::xs::Handle> s;
        for (std::uint64_t n = 1; !stop; ++n) {
            std::this_thread::sleep_for(10ms);
            if (!s) {
                auto o = kxen::xs::Handle::open(socket);
                if (!o) continue;
                s.emplace(std::move(*o));
                ++reconnects;
            }
            auto const v = std::to_string(n);
            attempted = n;
            auto r = kxen::xs::in_transaction(*s, [&](kxen::xs::Transaction t) -> kxen::xs::Result<void> {
                for (auto const* node : {"/fault/a", "/fault/b", "/fault/c"})
                    if (auto w = s->write(node, v, t); !w) return w;
                return s->write(host_node, "h" + v, t);
            });
            if (r) committed = n;
            else s.reset();   // the daemon died under us: a new connection
        }
    }};

    std::size_t log_at_last_kill = 0;
    for (int k = 0; k < 5; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(uniform(200, 1200)));
        log_at_last_kill = h.console_log("xsl").size();
        ASSERT_GT(kill_service(h, "kxenstored"), 0) << "kill " << k << ": kxenstored is not back\n" << h.kxend_log();
    }
    // Both clients get going again on the restarted daemon.
    auto const committed_at_kill = committed.load();
    for (auto end = clock_type::now() + 30s; committed <= committed_at_kill + 5 && clock_type::now() < end;)
        std::this_thread::sleep_for(50ms);
    EXPECT_GT(committed, committed_at_kill + 5) << "the dom0 client commits no more";
    bool guest_on = false;
    for (auto end = clock_type::now() + 30s; !guest_on && clock_type::now() < end; std::this_thread::sleep_for(100ms))
        guest_on = h.console_log("xsl").find("xs-loop: committed", log_at_last_kill) != std::string::npos;
    EXPECT_TRUE(guest_on) << "the guest commits no more:\n" << h.console_log("xsl").substr(log_at_last_kill);
    stop = true;
    client.join();

    auto s = h.store();
    ASSERT_TRUE(s);
    std::string a, b, c, hv;
    auto r = kxen::xs::in_transaction(*s, [&](kxen::xs::Transaction t) -> kxen::xs::Result<void> {
        auto ra = s->read("/fault/a", t), rb = s->read("/fault/b", t), rc = s->read("/fault/c", t);
        auto rh = s->read(host_node, t);
        if (!ra || !rb || !rc || !rh) return std::unexpected(!ra ? ra.error() : !rb ? rb.error() : !rc ? rc.error() : rh.error());
        a = *ra, b = *rb, c = *rc, hv = *rh;
        return {};
    });
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(a == b && b == c && hv == "h" + a) << "a transaction landed in part: " << a << " " << b << " " << c << " " << hv;
    auto const v = std::stoull(a);
    EXPECT_GE(v, committed.load()) << "a committed transaction was lost";
    EXPECT_LE(v, attempted.load());

    // The guest's watch survived every restart: a new value reaches it.
    auto const final_value = fmt::format("final-{}", uniform(1000, 9999));
    ASSERT_TRUE(s->write(host_node, final_value));
    EXPECT_TRUE(h.wait_console("xsl", "xs-loop: host wrote " + final_value, 30s)) << h.console_log("xsl");
    EXPECT_EQ(h.console_log("xsl").find("FAIL"), std::string::npos) << h.console_log("xsl");
    std::size_t unknown_tx = 0;
    auto const log = h.console_log("xsl");
    for (auto p = log.find("is unknown to the daemon"); p != std::string::npos; p = log.find("is unknown to the daemon", p + 1))
        ++unknown_tx;
    std::printf("dom0 client: %llu transactions committed, %llu connections; kxenstored killed 5 times; "
                "guest transactions the restarted daemon did not know: %zu\n",
                static_cast<unsigned long long>(committed.load()), static_cast<unsigned long long>(reconnects.load()),
                unknown_tx);
    EXPECT_TRUE(h.kxend_alive());
}

// kxen-backend killed four times while a guest writes and flushes its disk (test=blk-loop:
// a round is 256 KiB written, then a flush; it counts as done only when both are answered).
//
// On Xen, blkback is part of dom0's kernel: there is no backend process to kill, and when dom0
// goes the guests go with it. kxen's backend is a process; kxend restarts it, and the new one
// maps each ring again and takes up after the last response its predecessor published, doing
// again what that one took and never answered. The guest sees a pause, not an error, and
// every round it saw acknowledged is in the image.
TEST(Fault, KilledBlockBackendLosesNoFlushedWrite) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    constexpr std::uint64_t rounds = 1500, regions = 16, kib = 256;
    auto img = image(h, "loop", 8 * MiB);
    ASSERT_EQ(h.create("bl", fmt::format("test=blk-loop rounds={} regions={} kib={}", rounds, regions, kib),
                       {"memory=32", disk(img)})
                  .status,
              0);
    ASSERT_TRUE(h.wait_console("bl", "KXEN-TEST blk-loop RUNNING", 60s)) << h.console_log("bl") << h.kxend_log();
    int kills_while_running = 0;
    for (int k = 0; k < 4; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(uniform(200, 800)));
        bool const running = h.console_log("bl").find("KXEN-TEST blk-loop PASS") == std::string::npos;
        ASSERT_GT(kill_service(h, "kxen-backend"), 0) << "kill " << k << ": kxen-backend is not back\n" << h.kxend_log();
        kills_while_running += running;
    }
    ASSERT_TRUE(h.wait_console("bl", "KXEN-TEST blk-loop PASS", 180s)) << h.console_log("bl") << h.kxend_log();
    ASSERT_TRUE(h.wait_gone("bl", 30s));
    auto const d = read_all(img);
    EXPECT_EQ(d.size(), 8 * MiB);
    EXPECT_EQ(check_blk_loop(d, rounds, regions, kib), "");
    std::size_t connects = 0;
    auto const log = h.kxend_log();
    for (auto p = log.find("vbd 51712: connected"); p != std::string::npos; p = log.find("vbd 51712: connected", p + 1))
        ++connects;
    std::printf("blk-loop: %llu rounds; kxen-backend killed 4 times, %d while the guest wrote; the ring was "
                "connected %zu times\n",
                static_cast<unsigned long long>(rounds), kills_while_running, connects);
    EXPECT_GE(kills_while_running, 2) << "the guest was done too soon for the test to mean much";
    EXPECT_GE(connects, static_cast<std::size_t>(1 + kills_while_running)) << log;
    EXPECT_TRUE(h.kxend_alive());
}

// kxen-backend killed four times while a guest prints a numbered line every 5 ms into its
// console ring (2 KiB: about 40 lines).
//
// Xen's xenconsoled moves what the ring holds into its own buffer and frees the ring before
// it writes the log: killed, it loses what it had buffered, and a new xenconsoled starts
// from the ring's consumer index. kxen-backend frees ring space only after the log write, so
// a restarted backend logs anything its predecessor had not: nothing is lost; a kill between
// the write and the freeing would log those bytes twice. The guest, meanwhile, waits for
// room (it gives up on the ring only after a full second without progress).
TEST(Fault, KilledConsoleBackendComesBackAndLosesNoOutput) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("cl", "test=console-lines").status, 0);
    ASSERT_TRUE(h.wait_console("cl", "console-lines: 20 ", 60s)) << h.console_log("cl");
    for (int k = 0; k < 4; ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(uniform(200, 1000)));
        ASSERT_GT(kill_service(h, "kxen-backend"), 0) << "kill " << k << ": kxen-backend is not back\n" << h.kxend_log();
    }
    auto count = [&](std::map<std::uint64_t, int>& seen) {
        seen.clear();
        std::istringstream in(h.console_log("cl"));
        std::string line;
        std::uint64_t top = 0;
        while (std::getline(in, line)) {
            for (auto p = line.find("console-lines: "); p != std::string::npos; p = line.find("console-lines: ", p + 1)) {
                char* end = nullptr;
                std::uint64_t const n = std::strtoull(line.c_str() + p + 15, &end, 10);
                if (end == line.c_str() + p + 15 || *end != ' ') continue;   // a line still being written
                ++seen[n];
                top = std::max(top, n);
            }
        }
        return top;
    };
    std::map<std::uint64_t, int> seen;
    auto const at_last_kill = count(seen);
    for (auto end = clock_type::now() + 30s; count(seen) < at_last_kill + 100 && clock_type::now() < end;)
        std::this_thread::sleep_for(100ms);
    auto const top = count(seen);
    ASSERT_GE(top, at_last_kill + 100) << "the console stopped:\n" << h.console_log("cl");
    std::uint64_t lost = 0, duplicated = 0;
    for (std::uint64_t n = 1; n < top; ++n) {
        auto it = seen.find(n);
        if (it == seen.end()) ++lost;
        else duplicated += static_cast<std::uint64_t>(it->second - 1);
    }
    std::printf("console lines: %llu, lost %llu, duplicated %llu, kxen-backend killed 4 times\n",
                static_cast<unsigned long long>(top), static_cast<unsigned long long>(lost),
                static_cast<unsigned long long>(duplicated));
    EXPECT_EQ(lost, 0u) << h.console_log("cl");
    EXPECT_EQ(duplicated, 0u);
    auto log = h.console_log("cl");
    EXPECT_EQ(log.find("continues through console_io"), std::string::npos) << "the guest gave up on its ring:\n" << log;
    EXPECT_EQ(log.find("FAIL"), std::string::npos) << log;
    EXPECT_TRUE(h.kxend_alive());
}

namespace {

// A guest that checks its own memory, and the time one live migration of it takes here.
struct MigratingGuest {
    std::string name;
    double migrate_ms = 0;
};

MigratingGuest start_and_time(Host const& a, Host const& b, std::string const& name) {
    MigratingGuest g{name};
    EXPECT_EQ(a.create(name, "test=dirty rate=5 wss=8 idle=block", {"memory=64"}).status, 0);
    EXPECT_TRUE(a.wait_console(name, " ok\n", 120s)) << a.console_log(name);
    for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
        auto t = clock_type::now();
        auto r = from->kxl({"migrate", name, to->socket()});
        g.migrate_ms = std::max(g.migrate_ms, std::chrono::duration<double, std::milli>(clock_type::now() - t).count());
        EXPECT_EQ(r.status, 0) << r.out;
    }
    return g;
}

// When to kill, in ms after the start: anywhere in the migration in even runs; in odd ones
// within its last 40%, where the stop-and-copy, the suspended source and the handshake are.
int kill_point(int run, double migrate_ms) {
    return run % 2 ? uniform(static_cast<int>(migrate_ms * 0.6), static_cast<int>(migrate_ms * 1.05))
                   : uniform(0, static_cast<int>(migrate_ms * 1.2) + 50);
}

}  // namespace

// The sending `kxl migrate` killed at 20 random points of a live migration between two
// kxends. It receives in the same process (the destination is a local kxend's socket), so
// each kill takes both halves at once.
//
// Xen's libxl leaves the source as it was when xl died: log-dirty on, and suspended if the
// kill came after the suspend (the guest then runs nowhere until someone resumes it by
// hand), and on the destination a paused, half-restored domain that must be destroyed by
// hand. kxl asks kxend
// to guard both: a source whose tool died is resumed where it is (log-dirty off, its name
// back) unless the go was sent, and past the go it is destroyed or resumed as the
// receiver's report (which the receiver's kxend sends in its place) says; a destination
// domain is destroyed if the go had not reached it, and unpaused if it had; kxenstored
// removes a dead domain's tree.
TEST(Fault, KilledMigrationSenderLeavesGuestOnExactlyOneHost) {
    KXEN_REQUIRE_ACCEL();
    Host a, b;
    auto g = start_and_time(a, b, "ms");
    ASSERT_FALSE(::testing::Test::HasFailure());
    auto const base = usage(a, b);
    std::printf("one live migration: %.0f ms\n", g.migrate_ms);
    Host const* where = &a;
    int moved = 0;
    for (int run = 0; run < 20; ++run) {
        Host const& from = *where;
        Host const& to = where == &a ? b : a;
        auto out = a.dir() / "migrate.out";
        pid_t pid = spawn_kxl(from, {"migrate", g.name, to.socket()}, out);
        int const at = kill_point(run, g.migrate_ms);
        std::this_thread::sleep_for(std::chrono::milliseconds(at));
        ::kill(pid, SIGKILL);
        int st = 0;
        ::waitpid(pid, &st, 0);
        if (WIFEXITED(st)) ++moved;
        auto why = wait_placed(a, b, g.name, &where);
        ASSERT_TRUE(why.empty()) << "run " << run << ", kill at " << at << " ms: " << why << "\nkxl: " << slurp(out)
                                 << "\nA: " << a.kxend_log() << "\nB: " << b.kxend_log();
    }
    std::printf("migrations done before the kill: %d of 20\n", moved);
    EXPECT_TRUE(still_verifying(*where, g.name));
    auto const now = usage(a, b);
    std::printf("kxend fds %zu -> %zu, anonymous RSS %ld -> %ld kB\n", base.fds, now.fds, base.anon_kb, now.anon_kb);
    EXPECT_LE(now.fds, base.fds + 6);
    EXPECT_LE(now.anon_kb, base.anon_kb + 64 * 1024);
    EXPECT_TRUE(a.kxend_alive());
    EXPECT_TRUE(b.kxend_alive());
}

// `kxl migrate-receive --listen` killed at 20 random points of a live migration over TCP;
// the sender lives on.
//
// Xen: the receiving libxl's half-restored domain stays, paused, until destroyed by hand;
// the sender sees the connection fail and resumes the source, unless the receiver died
// after the go and before its report: then xl keeps the source suspended as
// --migratedaway, and without a report nobody knows whether the copy runs. With kxen the
// receiver's kxend settles it by the connection: a go that reached the receiver, read or
// not, unpauses its copy, none destroys it, and kxend sends the sender the report either way,
// so the sender destroys or resumes its source accordingly.
TEST(Fault, KilledMigrationReceiverLeavesGuestOnExactlyOneHost) {
    KXEN_REQUIRE_ACCEL();
    Host a, b;
    auto g = start_and_time(a, b, "mr");
    ASSERT_FALSE(::testing::Test::HasFailure());
    auto const base = usage(a, b);
    int const port0 = 21000 + static_cast<int>(::getpid() % 20000);
    Host const* where = &a;
    int moved = 0;
    for (int run = 0; run < 20; ++run) {
        Host const& from = *where;
        Host const& to = where == &a ? b : a;
        auto port = std::to_string(port0 + run);
        auto rout = a.dir() / "receive.out", sout = a.dir() / "send.out";
        pid_t receiver = spawn_kxl(to, {"migrate-receive", "--listen", port}, rout);
        for (auto end = clock_type::now() + 10s; slurp(rout).find("listening") == std::string::npos;) {
            ASSERT_LT(clock_type::now(), end) << slurp(rout);
            std::this_thread::sleep_for(10ms);
        }
        pid_t sender = spawn_kxl(from, {"migrate", g.name, "tcp:127.0.0.1:" + port}, sout);
        int const at = kill_point(run, g.migrate_ms);
        std::this_thread::sleep_for(std::chrono::milliseconds(at));
        ::kill(receiver, SIGKILL);
        int st = 0;
        ::waitpid(receiver, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ++moved;
        bool sender_done = false;
        for (auto end = clock_type::now() + 30s; !sender_done && clock_type::now() < end;) {
            sender_done = ::waitpid(sender, &st, WNOHANG) == sender;
            if (!sender_done) std::this_thread::sleep_for(20ms);
        }
        if (!sender_done) {
            ::kill(sender, SIGKILL);
            ::waitpid(sender, &st, 0);
            FAIL() << "run " << run << ": the sender hangs on a dead receiver: " << slurp(sout);
        }
        auto why = wait_placed(a, b, g.name, &where);
        ASSERT_TRUE(why.empty()) << "run " << run << ", kill at " << at << " ms: " << why << "\nsender: " << slurp(sout)
                                 << "\nreceiver: " << slurp(rout) << "\nA: " << a.kxend_log() << "\nB: " << b.kxend_log();
    }
    std::printf("migrations done before the kill: %d of 20\n", moved);
    EXPECT_TRUE(still_verifying(*where, g.name));
    auto const now = usage(a, b);
    std::printf("kxend fds %zu -> %zu, anonymous RSS %ld -> %ld kB\n", base.fds, now.fds, base.anon_kb, now.anon_kb);
    EXPECT_LE(now.fds, base.fds + 6);
    EXPECT_LE(now.anon_kb, base.anon_kb + 64 * 1024);
    EXPECT_TRUE(a.kxend_alive());
    EXPECT_TRUE(b.kxend_alive());
}
