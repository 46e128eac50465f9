// kxl migrate, kxl migrate-receive: xl's live migration. The sender runs the save stream into
// a pipe to the receiver (ssh to `kxl migrate-receive` by default, a TCP connection, or, for
// the socket path of another kxend on this machine, a receiver inside this process) and both
// sides then speak xl's handshake: the receiver says it is ready, the sender clears it to
// unpause (after renaming its copy away), the receiver reports, and only then does the source
// go. Anything that fails or is cancelled before that leaves the source running and removes
// the receiver's half-built domain.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstring>
#include <thread>
#include <fmt/format.h>
#include "common/unique_fd.hpp"
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/kxl/kxl.hpp"
#include "toolstack/kxl/zstd_pipe.hpp"

namespace kxen::kxl {

namespace {

using clock_type = std::chrono::steady_clock;

// xl's messages (tools/xl/xl_migrate.c), NUL included as xl sends them.
constexpr char msg_banner[] = "xl migration receiver ready, send binary domain data.\n";
constexpr char msg_ready[] = "domain received, ready to unpause";
constexpr char msg_go[] = "domain is yours, you are cleared to unpause";
constexpr char msg_report[] = "my copy unpause results are as follows";

std::expected<void, std::string> write_all(int fd, void const* p, std::size_t n) {
    auto const* b = static_cast<char const*>(p);
    while (n) {
        auto w = ::write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return std::unexpected(fmt::format("write: {}", std::strerror(errno)));
        b += w;
        n -= static_cast<std::size_t>(w);
    }
    return {};
}

// Reads exactly n bytes, giving up on cancel, end of stream or timeout.
std::expected<void, std::string> read_all(int fd, void* p, std::size_t n, Cancel const* cancel, int timeout_ms) {
    auto* b = static_cast<char*>(p);
    auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
    while (n) {
        if (cancel && cancel->requested()) return std::unexpected("cancelled");
        if (clock_type::now() > deadline) return std::unexpected("the peer did not answer in time");
        pollfd pfd{fd, POLLIN, 0};
        int r = ::poll(&pfd, 1, 100);
        if (r < 0 && errno != EINTR) return std::unexpected(fmt::format("poll: {}", std::strerror(errno)));
        if (r <= 0) continue;
        auto got = ::read(fd, b, n);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return std::unexpected(fmt::format("read: {}", std::strerror(errno)));
        if (got == 0) return std::unexpected("the peer closed the connection");
        b += got;
        n -= static_cast<std::size_t>(got);
    }
    return {};
}

// Waits until n bytes have arrived on fd, leaving them unread; gives up on cancel, end of
// stream or timeout.
std::expected<void, std::string> wait_unread(int fd, std::size_t n, Cancel const* cancel, int timeout_ms) {
    auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        if (cancel && cancel->requested()) return std::unexpected("cancelled");
        if (clock_type::now() > deadline) return std::unexpected("the peer did not answer in time");
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 100) <= 0) continue;
        int unread = 0;
        if (::ioctl(fd, FIONREAD, &unread) != 0) return std::unexpected(fmt::format("FIONREAD: {}", std::strerror(errno)));
        if (static_cast<std::size_t>(unread) >= n) return {};
        if (unread == 0) return std::unexpected("the peer closed the connection");   // readable, nothing to read
        std::this_thread::sleep_for(std::chrono::milliseconds(1));   // part of it: the rest follows
    }
}

// Whether the peer has closed its end (a receiver that died): what it sent before stays
// readable, so only a hang-up or an end of stream counts.
bool peer_gone(int fd) {
    pollfd pfd{fd, POLLRDHUP, 0};
    if (::poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) return true;
    int unread = 0;
    pfd = {fd, POLLIN, 0};
    return ::poll(&pfd, 1, 0) > 0 && ::ioctl(fd, FIONREAD, &unread) == 0 && unread == 0;
}

bool is_socket_fd(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

// xl sends each message with its NUL, except the banner (xl_migrate.c).
template <std::size_t N> constexpr std::size_t wire_size(char const (&msg)[N]) { return +msg == +msg_banner ? N - 1 : N; }

template <std::size_t N>
std::expected<void, std::string> expect(int fd, char const (&msg)[N], Cancel const* cancel, int timeout_ms) {
    char buf[N];
    if (auto r = read_all(fd, buf, wire_size(msg), cancel, timeout_ms); !r) return r;
    if (std::memcmp(buf, msg, wire_size(msg)) != 0)
        return std::unexpected(fmt::format("unexpected message instead of \"{}\"", msg));
    return {};
}

// Both names of a domain: kxend's and the one in its xenstore tree.
void rename(privcmd::Client& c, xs::Handle* store, std::uint16_t domid, std::string const& name) {
    (void)c.set_name(domid, name);
    if (!store) return;
    (void)store->write(domain_path(domid) + "/name", name);
    if (auto vm = store->try_read(domain_path(domid) + "/vm")) (void)store->write(*vm + "/name", name);
}

struct Received {
    std::uint16_t domid = 0;
    toolstack::DomainConfig config;
};

// The receiving half over (in, out).
std::expected<Received, std::string> receive(privcmd::Client& c, xs::Handle* store, int in, int out, bool paused,
                                             bool zstd, Cancel const* cancel) {
    if (auto r = write_all(out, msg_banner, wire_size(msg_banner)); !r) return std::unexpected(r.error());
    toolstack::stream::FdSource fd_src{in};
    ZstdSource z_src{fd_src};
    toolstack::stream::ByteSource& src = zstd ? static_cast<toolstack::stream::ByteSource&>(z_src) : fd_src;
    RestoreOptions opts;
    opts.paused = true;
    opts.name_suffix = "--incoming";
    opts.cancel = cancel;
    opts.keep_guard = true;   // kxend destroys it if we die before the go
    auto restored = restore_domain(c, store, src, opts);
    if (!restored) return std::unexpected(restored.error());
    auto domid = restored->domid;
    auto name = restored->config.name;
    bool const renamed = name.ends_with("--incoming");
    if (renamed) name.resize(name.size() - std::strlen("--incoming"));
    auto give_up = [&](std::string const& why) -> std::unexpected<std::string> {
        (void)destroy_domain(c, store, domid);
        return std::unexpected(why);
    };
    // From here kxend decides for us if we die: the domain is ours once the sender's go has
    // reached this end, read or not (the sender keeps its copy suspended once it has sent it).
    // On one socket (TCP) kxend can also give the sender our report; over a pipe pair (ssh,
    // the in-process receiver) the sender keeps its copy suspended without one, as xl does.
    bool const one_socket = in == out && is_socket_fd(in);
    auto report = one_socket ? std::string_view(msg_report, sizeof msg_report) : std::string_view{};
    if (auto g = c.guard_commit(domid, in, wire_size(msg_go), report); !g)
        return give_up("guarding the domain: " + describe(g.error()));
    if (auto r = write_all(out, msg_ready, sizeof msg_ready); !r) return give_up(r.error());
    if (auto r = wait_unread(in, wire_size(msg_go), cancel, 120000); !r) return give_up("waiting for the sender's go: " + r.error());
    // The go makes the domain ours: from here a death of this process must leave it running
    // (the sender keeps its copy suspended, and destroys it once it has our report).
    (void)c.guard(domid, paused ? privcmd::Guard::none : privcmd::Guard::unpause);
    if (auto r = expect(in, msg_go, cancel, 1000); !r) return give_up("the sender's go: " + r.error());
    char rc = 0;
    if (!paused)
        if (auto u = c.unpause(domid); !u) rc = 1;
    (void)c.guard(domid, privcmd::Guard::none);
    (void)write_all(out, msg_report, sizeof msg_report);
    (void)write_all(out, &rc, 1);
    if (rc) return give_up("cannot unpause the received domain");
    // After the report, so that the sender's window between our unpause and its destroy of
    // the source stays short; the source took its --migratedaway name before the go.
    if (renamed) rename(c, store, domid, name);
    restored->config.name = name;
    return Received{domid, restored->config};
}

struct Sent {
    SaveStats stats;
    double handshake_ms = 0;
};

// The sending half over (in, out). The source is destroyed only after the receiver reports
// that its copy runs.
std::expected<Sent, std::string> send(privcmd::Client& c, xs::Handle* store, std::uint16_t domid,
                                      std::string const& config, int in, int out, MigrateArgs const& a,
                                      Cancel const* cancel) {
    if (auto r = expect(in, msg_banner, cancel, 60000); !r) return std::unexpected("the receiver: " + r.error());
    SaveOptions opts;
    opts.live = a.live;
    opts.verify = a.debug;
    opts.downtime_target_ms = a.downtime_ms;
    opts.max_iterations = a.max_iterations;
    opts.cancel = cancel;
    opts.progress = progress_printer("migrate");
    ZstdSink z{toolstack::stream::fd_sink(out)};
    auto stats = save_domain(c, store, domid, config, a.zstd ? z.sink() : toolstack::stream::fd_sink(out), opts);
    if (!stats) return std::unexpected(stats.error());
    if (a.zstd) {
        if (auto f = z.finish(); !f) {
            if (auto r = resume_suspended(c, domid, stats->cooperative); !r) return std::unexpected(f.error() + "; " + r.error());
            return std::unexpected(f.error() + "; the domain runs on here");
        }
        stats->bytes = z.bytes_out();
    }
    auto t = clock_type::now();
    auto resume = [&](std::string const& why) -> std::unexpected<std::string> {
        if (auto r = resume_suspended(c, domid, stats->cooperative); !r)
            return std::unexpected(why + "; resuming the source failed: " + r.error());
        return std::unexpected(why + "; the domain runs on here");
    };
    if (auto r = expect(in, msg_ready, cancel, 600000); !r) return resume("the receiver did not build the domain: " + r.error());
    auto name = c.get_name(domid).value_or("");
    rename(c, store, domid, name + "--migratedaway");
    // Past the go, whether the receiver's copy runs is its call, and its report says which.
    // Should this process die now, kxend waits for that report (guard_sent below); without one
    // it keeps the source suspended as --migratedaway, as libxl does, since resuming it could
    // put the guest on two hosts (DESIGN-NOTES.md, "Dead tools and dead services").
    // A receiver that died before the go keeps nothing (its kxend destroys its copy): ours must
    // run on. Checked as late as possible, since the go itself is the commit.
    if (peer_gone(in)) {
        rename(c, store, domid, name);
        return resume("the receiver went away before the go");
    }
    // Should this process die from here, kxend waits for the receiver's report on our
    // connection and acts on it: destroys our copy if the other runs, resumes it if not.
    if (!c.guard_sent(domid, in, sizeof msg_report + 1, stats->cooperative))
        (void)c.guard(domid, privcmd::Guard::none);
    if (auto r = write_all(out, msg_go, sizeof msg_go); !r) {
        (void)c.guard(domid, privcmd::Guard::none);
        rename(c, store, domid, name);
        return resume("the receiver went away: " + r.error());
    }
    char rc = 1;
    auto rep = expect(in, msg_report, nullptr, 60000);
    if (rep) rep = read_all(in, &rc, 1, nullptr, 60000);
    (void)c.guard(domid, rep && rc == 0 ? privcmd::Guard::destroy : privcmd::Guard::none);
    if (!rep || rc != 0) {
        // Without a report we cannot tell whether the copy runs: keep ours suspended, as xl does.
        if (!rep) return std::unexpected("no report from the receiver (" + rep.error() + "): the domain is left suspended here as " + name + "--migratedaway");
        rename(c, store, domid, name);
        return resume("the receiver could not start the domain");
    }
    Sent s{*stats, std::chrono::duration<double, std::milli>(clock_type::now() - t).count()};
    (void)destroy_domain(c, store, domid);
    return s;
}

bool is_socket(std::string const& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

UniqueFd tcp_connect(std::string const& host, std::string const& port) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0) return {};
    UniqueFd fd;
    for (auto* ai = res; ai; ai = ai->ai_next) {
        UniqueFd s{::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)};
        if (s && ::connect(s.raw(), ai->ai_addr, ai->ai_addrlen) == 0) {
            fd = std::move(s);
            break;
        }
    }
    ::freeaddrinfo(res);
    return fd;
}

} // namespace

int cmd_migrate(Globals const& g, MigrateArgs const& a) {
    if (a.receiver == "xl" && a.zstd) {
        fmt::print(stderr, "kxl: migrate: xl migrate-receive takes no compressed stream (--zstd)\n");
        return 1;
    }
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, a.dom);
    if (!id) return 1;
    auto config = remembered_config(*c, *id);
    if (!config) {
        fmt::print(stderr, "kxl: migrate {}: no config is recorded for this domain\n", a.dom);
        return 1;
    }
    auto store = open_store(*c);
    Cancel cancel;
    cancel_on_signals(cancel);

    UniqueFd in, out;
    std::thread local_receiver;
    std::expected<Received, std::string> received = std::unexpected(std::string("no receiver"));
    pid_t ssh = -1;
    if (is_socket(a.dest)) {
        // Another kxend on this machine: receive in this process, through a socket pair.
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            fmt::print(stderr, "kxl: migrate: socketpair: {}\n", std::strerror(errno));
            return 1;
        }
        in.reset(sv[0]);
        out.reset(::dup(sv[0]));
        local_receiver = std::thread{[&, fd = UniqueFd{sv[1]}]() mutable {
            auto dc = privcmd::Client::connect(a.dest);
            if (!dc) {
                received = std::unexpected("cannot reach the destination kxend: " + dc.error().message());
                return;
            }
            auto dstore = open_store(*dc);
            received = receive(*dc, dstore ? &*dstore : nullptr, fd.raw(), fd.raw(), a.paused, a.zstd, &cancel);
            fd.reset();   // the sender sees the end if we gave up early
        }};
    } else if (a.dest.starts_with("tcp:")) {
        auto hp = a.dest.substr(4);
        auto colon = hp.rfind(':');
        if (colon == std::string::npos) {
            fmt::print(stderr, "kxl: migrate: {}: expected tcp:HOST:PORT\n", a.dest);
            return 1;
        }
        in = tcp_connect(hp.substr(0, colon), hp.substr(colon + 1));
        if (!in) {
            fmt::print(stderr, "kxl: migrate: cannot connect to {}: {}\n", a.dest, std::strerror(errno));
            return 1;
        }
        out.reset(::dup(in.raw()));
    } else {
        // As xl: `ssh HOST kxl migrate-receive`, the stream on its stdin and stdout.
        int to[2], from[2];
        if (::pipe2(to, O_CLOEXEC) != 0 || ::pipe2(from, O_CLOEXEC) != 0) return 1;
        ssh = ::fork();
        if (ssh == 0) {
            ::dup2(to[0], 0);
            ::dup2(from[1], 1);
            std::string remote = a.receiver + " migrate-receive" + (a.paused ? " -p" : "") + (a.zstd ? " --zstd" : "");
            ::execlp(a.ssh.c_str(), a.ssh.c_str(), a.dest.c_str(), remote.c_str(), nullptr);
            ::_exit(127);
        }
        ::close(to[0]);
        ::close(from[1]);
        in.reset(from[0]);
        out.reset(to[1]);
    }

    fmt::print(stderr, "migration target: {}\n", a.dest);
    auto sent = send(*c, store ? &*store : nullptr, *id, *config, in.raw(), out.raw(), a, &cancel);
    in.reset();
    out.reset();
    if (local_receiver.joinable()) {
        if (!sent) cancel.request();   // the receiver gives up too
        local_receiver.join();
    }
    if (ssh > 0) {
        int st;
        ::waitpid(ssh, &st, 0);
    }
    if (!sent) {
        fmt::print(stderr, "kxl: migrate {}: {}\n", a.dom, sent.error());
        if (!received && received.error() != "no receiver")
            fmt::print(stderr, "kxl: migrate {}: receiver: {}\n", a.dom, received.error());
        return 1;
    }
    fmt::print(stderr, "migrate: done total_ms={:.0f} downtime_ms={:.1f} bytes={} iterations={} pages={} zero_pages={}\n",
               sent->stats.total_ms + sent->handshake_ms, sent->stats.downtime_ms + sent->handshake_ms,
               sent->stats.bytes, sent->stats.iterations, sent->stats.pages_sent, sent->stats.zero_pages);
    if (received && !a.paused) start_monitor(Globals{a.dest}, received->config, received->domid);
    return 0;
}

int cmd_migrate_receive(Globals const& g, MigrateReceiveArgs const& a) {
    auto c = connect(g);
    if (!c) return 1;
    auto store = open_store(*c);
    Cancel cancel;
    cancel_on_signals(cancel);
    UniqueFd conn;
    int in = STDIN_FILENO, out = STDOUT_FILENO;
    if (a.listen) {
        UniqueFd l{::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        int one = 1, zero = 0;
        ::setsockopt(l.raw(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        ::setsockopt(l.raw(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        sockaddr_in6 sa{};
        sa.sin6_family = AF_INET6;
        sa.sin6_port = htons(a.listen);
        sa.sin6_addr = in6addr_any;
        if (::bind(l.raw(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(l.raw(), 1) != 0) {
            fmt::print(stderr, "kxl: migrate-receive: cannot listen on port {}: {}\n", a.listen, std::strerror(errno));
            return 1;
        }
        fmt::print(stderr, "migrate-receive: listening on port {}\n", a.listen);
        while (!conn) {
            if (cancel.requested()) return 1;
            pollfd pfd{l.raw(), POLLIN, 0};
            if (::poll(&pfd, 1, 200) > 0) conn.reset(::accept4(l.raw(), nullptr, nullptr, SOCK_CLOEXEC));
        }
        in = out = conn.raw();
    }
    auto r = receive(*c, store ? &*store : nullptr, in, out, a.paused, a.zstd, &cancel);
    if (!r) {
        fmt::print(stderr, "kxl: migrate-receive: {}\n", r.error());
        return 1;
    }
    fmt::print(stderr, "migrate-receive: domain {} ({}) is running here\n", r->config.name, r->domid);
    if (!a.no_monitor && !a.paused) start_monitor(g, r->config, r->domid);
    return 0;
}

} // namespace kxen::kxl
