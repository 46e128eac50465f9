// kxen-bench-xenstore: requests per second of kxenstored and of Debian's oxenstored, through
// Xen's own client library (libxenstore, one connection per client thread) on each daemon's
// Unix socket. Read, write, and transaction (start + write + end), with 1, 8 and 64 clients,
// on an empty store and on one holding 1,000 domains' worth of nodes and watches.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
extern "C" {
#include <xenstore.h>
}
#include "common/proc.hpp"
#include "common/stats.hpp"

using namespace kxen::bench;
namespace fs = std::filesystem;

namespace {

struct Options {
    std::string kxenstored = KXEN_BIN_DIR "/kxenstored";
    std::string peer_root = KXEN_SOURCE_DIR "/.cache/xenstore-debs/root";
    std::string shim = KXEN_XS_SHIM;
    std::vector<std::string> servers{"kxenstored", "kxenstored-nopersist", "oxenstored"};
    std::vector<std::string> stores{"empty", "populated"};
    std::vector<std::string> ops{"read", "write", "txn"};
    std::vector<int> clients{1, 8, 64};
    double seconds = 1.0;
    int rounds = 5;
    int domains = 1000;
};

// One daemon on a socket of its own, started and killed by us.
class Server {
public:
    static std::unique_ptr<Server> start(Options const& o, std::string const& kind, std::string& err) {
        std::unique_ptr<Server> s{new Server};
        char tmpl[] = "/tmp/kxen-bench-xs-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            err = std::string("mkdtemp: ") + std::strerror(errno);
            return nullptr;
        }
        s->dir_ = tmpl;
        s->socket_ = (s->dir_ / "socket").string();
        std::vector<std::string> argv, env;
        if (kind == "kxenstored" || kind == "kxenstored-nopersist") {
            argv = {o.kxenstored, "--socket", s->socket_, "--state-dir", (s->dir_ / "state").string()};
            if (kind == "kxenstored-nopersist") argv.push_back("--no-persist");
        } else if (kind == "oxenstored") {
            auto bin = o.peer_root + "/usr/lib/xen-4.17/bin/oxenstored";
            if (::access(bin.c_str(), X_OK) != 0) {
                err = bin + " not found (fetch it as tests/xenstore/conformance.sh does)";
                return nullptr;
            }
            // Debian's /etc/xen/oxenstored.conf, with its files moved into our directory.
            std::ofstream conf(s->dir_ / "oxenstored.conf");
            std::ifstream deb(o.peer_root + "/etc/xen/oxenstored.conf");
            for (std::string line; std::getline(deb, line);)
                if (!line.starts_with("pid-file")) conf << line << "\n";
            conf << "pid-file = " << (s->dir_ / "oxenstored.pid").string() << "\n"
                 << "xenstored-log-file = " << (s->dir_ / "oxenstored.log").string() << "\n"
                 << "access-log-file = " << (s->dir_ / "access.log").string() << "\n";
            argv = {bin, "--no-fork", "--no-domain-init", "--no-access-log", "--config-file",
                    (s->dir_ / "oxenstored.conf").string()};
            env = {"LD_PRELOAD=" + o.shim, "KXEN_XS_SHIM_SOCKET=" + s->socket_,
                   "LD_LIBRARY_PATH=" + o.peer_root + "/usr/lib/x86_64-linux-gnu"};
        } else {
            err = "unknown server " + kind;
            return nullptr;
        }
        s->log_ = (s->dir_ / "daemon.log").string();
        s->pid_ = ::fork();
        if (s->pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            int fd = ::open(s->log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(fd, 1);
            ::dup2(fd, 2);
            for (auto& e : env) ::putenv(e.data());
            std::vector<char*> a;
            for (auto& x : argv) a.push_back(x.data());
            a.push_back(nullptr);
            ::execv(a[0], a.data());
            ::_exit(127);
        }
        for (int i = 0; i < 200; ++i) {
            if (s->answers()) return s;
            int st;
            if (::waitpid(s->pid_, &st, WNOHANG) == s->pid_) {
                s->pid_ = -1;
                err = kind + " exited at start: " + first_line_of("cat " + s->log_);
                return nullptr;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        err = kind + " did not answer within 5 s";
        return nullptr;
    }
    ~Server() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (!std::getenv("KXEN_BENCH_KEEP")) {
            std::error_code ec;
            fs::remove_all(dir_, ec);
        }
    }
    [[nodiscard]] std::string const& socket() const { return socket_; }
    [[nodiscard]] bool alive() const { return pid_ > 0 && ::kill(pid_, 0) == 0; }
    [[nodiscard]] pid_t pid() const { return pid_; }

private:
    Server() = default;
    bool answers() const {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, socket_.c_str(), sizeof a.sun_path - 1);
        bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(fd);
        return ok;
    }
    fs::path dir_;
    std::string socket_, log_;
    pid_t pid_ = -1;
};

struct XsCloser {
    void operator()(xs_handle* h) const { xs_close(h); }
};
using Xs = std::unique_ptr<xs_handle, XsCloser>;

// libxenstore finds the daemon through XENSTORED_PATH at xs_open time.
Xs xs_connect(std::string const& socket) {
    ::setenv("XENSTORED_PATH", socket.c_str(), 1);
    return Xs{xs_open(0)};
}

bool put(xs_handle* h, xs_transaction_t t, std::string const& path, std::string const& v) {
    return xs_write(h, t, path.c_str(), v.data(), static_cast<unsigned>(v.size()));
}

// What libxl writes for a PV/PVH domain with one disk and one NIC, as `xenstore-ls` shows
// it on a Xen 4.17 host: /local/domain/N (owned by N), its backends under dom0, and /vm/<uuid>.
bool populate_domain(xs_handle* h, int d) {
    auto const dom = fmt::format("/local/domain/{}", d);
    auto const uuid = fmt::format("6b78656e-0000-4000-8000-{:012x}", d);
    auto const be_vbd = fmt::format("/local/domain/0/backend/vbd/{}/51712", d);
    auto const be_vif = fmt::format("/local/domain/0/backend/vif/{}/0", d);
    auto const fe = [&](std::string const& rel) { return dom + "/" + rel; };
    xs_transaction_t t = xs_transaction_start(h);
    if (t == XBT_NULL) return false;
    bool ok = put(h, t, dom, "");
    xs_permissions perms[2] = {{static_cast<unsigned>(d), XS_PERM_NONE}, {0, XS_PERM_READ}};
    ok = ok && xs_set_permissions(h, t, dom.c_str(), perms, 2);
    std::vector<std::pair<std::string, std::string>> nodes{
        {fe("name"), fmt::format("guest{}", d)},
        {fe("domid"), std::to_string(d)},
        {fe("vm"), "/vm/" + uuid},
        {fe("memory/target"), "1048576"},
        {fe("memory/static-max"), "1048576"},
        {fe("memory/videoram"), "-1"},
        {fe("cpu/0/availability"), "online"},
        {fe("control/shutdown"), ""},
        {fe("control/sysrq"), ""},
        {fe("control/feature-poweroff"), "1"},
        {fe("control/feature-reboot"), "1"},
        {fe("control/feature-suspend"), "1"},
        {fe("control/platform-feature-multiprocessor-suspend"), "1"},
        {fe("control/platform-feature-xs_reset_watches"), "1"},
        {fe("store/port"), "1"},
        {fe("store/ring-ref"), "1044476"},
        {fe("console/ring-ref"), "1044479"},
        {fe("console/port"), "2"},
        {fe("console/type"), "xenconsoled"},
        {fe("console/output"), "pty"},
        {fe("console/tty"), "/dev/pts/3"},
        {fe("console/limit"), "1048576"},
        {fe("device/vbd/51712/backend"), be_vbd},
        {fe("device/vbd/51712/backend-id"), "0"},
        {fe("device/vbd/51712/state"), "4"},
        {fe("device/vbd/51712/virtual-device"), "51712"},
        {fe("device/vbd/51712/device-type"), "disk"},
        {fe("device/vbd/51712/ring-ref"), "8"},
        {fe("device/vbd/51712/event-channel"), "4"},
        {fe("device/vbd/51712/protocol"), "x86_64-abi"},
        {fe("device/vif/0/backend"), be_vif},
        {fe("device/vif/0/backend-id"), "0"},
        {fe("device/vif/0/state"), "4"},
        {fe("device/vif/0/handle"), "0"},
        {fe("device/vif/0/mac"), fmt::format("00:16:3e:00:{:02x}:{:02x}", (d >> 8) & 0xff, d & 0xff)},
        {fe("data/updated"), "0"},
        {be_vbd + "/frontend", fe("device/vbd/51712")},
        {be_vbd + "/frontend-id", std::to_string(d)},
        {be_vbd + "/params", fmt::format("/var/lib/xen/images/guest{}.img", d)},
        {be_vbd + "/type", "phy"},
        {be_vbd + "/mode", "w"},
        {be_vbd + "/online", "1"},
        {be_vbd + "/state", "4"},
        {be_vif + "/frontend", fe("device/vif/0")},
        {be_vif + "/frontend-id", std::to_string(d)},
        {be_vif + "/bridge", "xenbr0"},
        {be_vif + "/online", "1"},
        {be_vif + "/state", "4"},
        {"/vm/" + uuid + "/name", fmt::format("guest{}", d)},
        {"/vm/" + uuid + "/uuid", uuid},
        {"/vm/" + uuid + "/start_time", "1764000000.00"},
    };
    for (auto const& [p, v] : nodes) ok = ok && put(h, t, p, v);
    bool const committed = xs_transaction_end(h, t, !ok);
    return ok && committed;
}

// Nodes the store holds after populating, counted by walking it (the daemons' own view).
// A directory that cannot be listed (oxenstored 4.17 fails XS_DIRECTORY on a directory
// whose listing does not fit in one reply) counts in `too_big`; its children are not seen.
long count_nodes(xs_handle* h, std::string const& path, long& too_big) {
    unsigned n = 0;
    errno = 0;
    char** kids = xs_directory(h, XBT_NULL, path.c_str(), &n);
    if (!kids && errno != 0) ++too_big;
    long total = 1;
    for (unsigned i = 0; i < n; ++i)
        total += count_nodes(h, (path == "/" ? "" : path) + "/" + kids[i], too_big);
    std::free(kids);
    return total;
}

struct Populated {
    Xs watcher;   // holds the watches for as long as the store is measured
    long nodes = 0, watches = 0, too_big = 0;
};

std::optional<Populated> populate(std::string const& socket, int domains, std::string& err) {
    Populated p;
    auto h = xs_connect(socket);
    p.watcher = xs_connect(socket);
    if (!h || !p.watcher) {
        err = "xs_open failed";
        return std::nullopt;
    }
    for (int d = 1; d <= domains; ++d)
        if (!populate_domain(h.get(), d)) {
            err = fmt::format("populating domain {}: {}", d, std::strerror(errno));
            return std::nullopt;
        }
    // What a toolstack and the domains' backends watch.
    for (int d = 1; d <= domains; ++d) {
        auto const path = fmt::format("/local/domain/{}/control/shutdown", d);
        if (!xs_watch(p.watcher.get(), path.c_str(), fmt::format("shutdown-{}", d).c_str())) {
            err = fmt::format("watch {}: {}", path, std::strerror(errno));
            return std::nullopt;
        }
        ++p.watches;
    }
    for (char const* special : {"@releaseDomain", "@introduceDomain"}) {
        if (!xs_watch(p.watcher.get(), special, special)) {
            err = fmt::format("watch {}: {}", special, std::strerror(errno));
            return std::nullopt;
        }
        ++p.watches;
    }
    p.nodes = count_nodes(h.get(), "/", p.too_big);
    return p;
}

struct CaseResult {
    double per_s = 0;        // operations per second (a transaction counts once)
    double cpu_us = 0;       // the daemon's CPU time per operation
    long retries = 0;        // transactions that ended in EAGAIN and were redone
    std::string error;
};

// `clients` threads, each with its own connection, doing `op` for `seconds`.
CaseResult run_case(std::string const& socket, pid_t daemon, std::string const& op, int clients, double seconds,
                    int domains) {
    std::vector<Xs> conns;
    for (int i = 0; i < clients; ++i) {
        conns.push_back(xs_connect(socket));
        if (!conns.back()) return {0, 0, 0, "xs_open failed"};
    }
    std::atomic<bool> stop{false};
    std::atomic<long> total{0}, retries{0};
    std::atomic<int> failed{0};
    std::barrier start(clients + 1);
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i)
        threads.emplace_back([&, i] {
            xs_handle* h = conns[static_cast<std::size_t>(i)].get();
            // Each client its own node, inside a domain's directory among the watched ones.
            auto const path = fmt::format("/local/domain/{}/data/bench-c{}", 1 + i % domains, i);
            std::string const value = "0123456789abcdef";
            bool ok = put(h, XBT_NULL, path, value);
            auto once = [&]() -> bool {
                if (op == "read") {
                    unsigned len = 0;
                    void* v = xs_read(h, XBT_NULL, path.c_str(), &len);
                    std::free(v);
                    return v != nullptr;
                }
                if (op == "write") return put(h, XBT_NULL, path, value);
                for (;;) {
                    xs_transaction_t t = xs_transaction_start(h);
                    if (t == XBT_NULL) return false;
                    if (!put(h, t, path, value)) {
                        xs_transaction_end(h, t, true);
                        return false;
                    }
                    if (xs_transaction_end(h, t, false)) return true;
                    if (errno != EAGAIN) return false;
                    retries.fetch_add(1, std::memory_order_relaxed);
                }
            };
            for (int w = 0; ok && w < 50; ++w) ok = once();   // warm-up: caches, allocations
            start.arrive_and_wait();
            long n = 0;
            while (ok && !stop.load(std::memory_order_relaxed)) {
                ok = once();
                n += ok;
            }
            if (!ok) failed.fetch_add(1);
            total.fetch_add(n);
        });
    start.arrive_and_wait();
    auto const t0 = Clock::now();
    double const cpu0 = cpu_seconds(daemon);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : threads) t.join();
    double const elapsed = ms_since(t0) / 1000;
    double const n = static_cast<double>(total.load());
    CaseResult r{n / elapsed, n > 0 ? (cpu_seconds(daemon) - cpu0) * 1e6 / n : 0, retries.load(), {}};
    if (failed) r.error = fmt::format("{} of {} clients failed: {}", failed.load(), clients, std::strerror(errno));
    return r;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"kxenstored vs oxenstored: requests per second through libxenstore"};
    app.add_option("--kxenstored", o.kxenstored, "kxenstored binary")->capture_default_str();
    app.add_option("--peer-root", o.peer_root, "where xen-utils-4.17 and xen-utils-common are unpacked")
        ->capture_default_str();
    app.add_option("--shim", o.shim, "the LD_PRELOAD library oxenstored runs with")->capture_default_str();
    app.add_option("--servers", o.servers, "kxenstored, kxenstored-nopersist, oxenstored")->delimiter(',');
    app.add_option("--stores", o.stores, "empty, populated")->delimiter(',');
    app.add_option("--ops", o.ops, "read, write, txn")->delimiter(',');
    app.add_option("--clients", o.clients, "concurrent clients per case")->delimiter(',');
    app.add_option("--seconds", o.seconds, "length of one measurement")->capture_default_str();
    app.add_option("--rounds", o.rounds, "measurements per case (the median is reported)")->capture_default_str();
    app.add_option("--domains", o.domains, "domains in the populated store")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);   // progress shows when the output goes to a file
    ::signal(SIGPIPE, SIG_IGN);

    fmt::print("host: {}\n", host_description());
    fmt::print("kxen-bench-xenstore: {} s x {} rounds per case (median), clients {}; populated = {} domains\n",
               o.seconds, o.rounds, fmt::join(o.clients, ","), o.domains);

    // results[store/op/clients][server]
    std::map<std::string, std::map<std::string, CaseResult>> results;
    std::vector<std::string> rows;
    std::map<std::string, std::string> unavailable;
    for (auto const& store : o.stores) {
        // Every daemon runs for the whole store phase, and each case's rounds go to the
        // daemons in turn: a change in the load of the (shared) machine hits all alike.
        std::map<std::string, std::unique_ptr<Server>> up;
        std::map<std::string, Populated> pops;
        for (auto const& srv : o.servers) {
            if (unavailable.contains(srv)) continue;
            std::string err;
            auto s = Server::start(o, srv, err);
            if (!s) {
                fmt::print("{}: cannot run: {}\n", srv, err);
                unavailable[srv] = err;
                continue;
            }
            if (store == "populated") {
                auto const t0 = Clock::now();
                auto pop = populate(s->socket(), o.domains, err);
                if (!pop) {
                    fmt::print("{}: populating failed: {}\n", srv, err);
                    continue;
                }
                fmt::print("{} populated in {:.1f} s: {} nodes listed{}, {} watches\n", srv, ms_since(t0) / 1000,
                           pop->nodes,
                           pop->too_big ? fmt::format(" ({} {} could not be listed)", pop->too_big,
                                                          pop->too_big == 1 ? "directory" : "directories")
                                        : "",
                           pop->watches);
                pops[srv] = std::move(*pop);
            }
            up[srv] = std::move(s);
        }
        for (auto const& op : o.ops)
            for (int n : o.clients) {
                auto const key = fmt::format("{}/{}/{}", store, op, n);
                rows.push_back(key);
                std::map<std::string, std::vector<double>> v, cpu;
                for (int r = 0; r < o.rounds; ++r)
                    for (auto const& [srv, s] : up) {
                        auto& res = results[key][srv];
                        if (!res.error.empty()) continue;
                        auto one = run_case(s->socket(), s->pid(), op, n, o.seconds, o.domains);
                        if (!s->alive()) one.error = srv + " died";
                        v[srv].push_back(one.per_s);
                        cpu[srv].push_back(one.cpu_us);
                        res.retries += one.retries;
                        res.error = one.error;
                    }
                for (auto const& [srv, s] : up) {
                    auto& res = results[key][srv];
                    res.per_s = summarize(v[srv]).median;
                    res.cpu_us = summarize(cpu[srv]).median;
                    fmt::print("  {:<21} {:<20} {:>10}/s {:>6.1f} CPU us/op{}{}\n", srv, key, si(res.per_s), res.cpu_us,
                               res.retries ? fmt::format("  ({} EAGAIN retries)", res.retries) : "",
                               res.error.empty() ? "" : "  ERROR " + res.error);
                }
            }
    }

    fmt::print("\nload average at the end: {}\n", first_line_of("cat /proc/loadavg"));
    fmt::print("\noperations per second (median of {} x {} s; txn = start + write + end, 3 requests)\n", o.rounds,
               o.seconds);
    bool const peer = std::find(o.servers.begin(), o.servers.end(), "oxenstored") != o.servers.end();
    auto table = [&](auto metric, auto show) {
        fmt::print("{:<24}", "store/op/clients");
        for (auto const& srv : o.servers) fmt::print(" {:>21}", srv);
        if (peer) fmt::print(" {:>10}", "kxen/oxen");
        fmt::print("\n");
        for (auto const& key : rows) {
            fmt::print("{:<24}", key);
            for (auto const& srv : o.servers) {
                auto it = results[key].find(srv);
                if (it == results[key].end() || !it->second.error.empty()) fmt::print(" {:>21}", "-");
                else fmt::print(" {:>21}", show(metric(it->second)));
            }
            if (peer) {
                auto k = results[key].find("kxenstored");
                auto x = results[key].find("oxenstored");
                if (k != results[key].end() && x != results[key].end() && metric(x->second) > 0 &&
                    k->second.error.empty() && x->second.error.empty())
                    fmt::print(" {:>10.2f}", metric(k->second) / metric(x->second));
            }
            fmt::print("\n");
        }
    };
    table([](CaseResult const& r) { return r.per_s; }, si);
    fmt::print("\nthe daemon's CPU time (user + system) per operation, us (median)\n");
    table([](CaseResult const& r) { return r.cpu_us; }, [](double v) { return fmt::format("{:.1f}", v); });
    for (auto const& [srv, why] : unavailable) fmt::print("{}: not measured: {}\n", srv, why);
    return 0;
}
