#include "xenstore/flood.hpp"
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/unique_fd.hpp"
#include "xenstore/wire.hpp"

namespace kxen::xenstore::flood {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

UniqueFd connect_unix(std::string const& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return {};
    path.copy(a.sun_path, path.size());
    UniqueFd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd) return {};
    if (::connect(fd.raw(), reinterpret_cast<sockaddr const*>(&a), sizeof a) != 0) return {};
    return fd;
}

std::string message(std::uint32_t type, std::uint32_t req_id, std::string_view payload) {
    std::string s;
    encode(s, type, req_id, 0, payload);
    return s;
}

std::string path_value(std::string_view path, std::string_view value) {
    std::string p{path};
    p.push_back('\0');
    p.append(value);
    return p;
}

std::string nul_terminated(std::string_view s) {
    std::string p{s};
    p.push_back('\0');
    return p;
}

// Sends all of `bytes` and reads one reply, both before `deadline`; the reply's payload.
std::optional<std::string> exchange(int fd, std::string const& bytes, Clock::time_point deadline) {
    auto wait = [&](short ev) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, ev, 0};
        return ::poll(&p, 1, static_cast<int>(left.count())) == 1;
    };
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        if (!wait(POLLOUT)) return std::nullopt;
        ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EINTR) return std::nullopt;
        if (n > 0) sent += static_cast<std::size_t>(n);
    }
    std::string in;
    for (;;) {
        if (in.size() >= header_size) {
            MsgHeader h = decode_header(in.data());
            if (in.size() >= header_size + h.len) {
                if (h.type == XS_WATCH_EVENT) {
                    in.erase(0, header_size + h.len);
                    continue;
                }
                if (h.type == XS_ERROR) return std::nullopt;
                return in.substr(header_size, h.len);
            }
        }
        if (!wait(POLLIN)) return std::nullopt;
        char buf[8192];
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) return std::nullopt;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return std::nullopt;
        }
        in.append(buf, static_cast<std::size_t>(n));
    }
}

constexpr std::string_view probe_path = "/probe/node";
constexpr std::string_view probe_value = "probe-value";
constexpr std::string_view big_path = "/flood/big";

// The hostile clients: one thread, non-blocking sockets, never a byte read from any of them.
class Flood {
public:
    Flood(Options const& o) : o_{o} {}

    bool start(std::string& err) {
        ep_ = UniqueFd{::epoll_create1(EPOLL_CLOEXEC)};
        if (!ep_) {
            err = "epoll_create1 failed";
            return false;
        }
        int n = o_.watchers + o_.readers;
        conns_.resize(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            conns_[static_cast<std::size_t>(i)].watcher = i < o_.watchers;
            conns_[static_cast<std::size_t>(i)].index = i;
            if (!open(conns_[static_cast<std::size_t>(i)])) {
                err = "cannot connect to " + o_.socket;
                return false;
            }
        }
        thread_ = std::thread([this] { loop(); });
        return true;
    }

    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        conns_.clear();   // every socket closed
    }

    std::uint64_t requests() const { return requests_; }
    std::uint64_t hangups() const { return hangups_; }

private:
    struct Conn {
        UniqueFd fd;
        bool watcher = false;
        int index = 0;
        std::string out;
        std::size_t off = 0;
        std::size_t batch = 0;   // requests in `out`
        std::uint64_t next = 0;  // the next node name a watcher writes
    };

    bool open(Conn& c) {
        c.fd = connect_unix(o_.socket);
        if (!c.fd) return false;
        ::fcntl(c.fd.raw(), F_SETFL, ::fcntl(c.fd.raw(), F_GETFL) | O_NONBLOCK);
        c.out.clear();
        c.off = 0;
        c.batch = 0;
        if (c.watcher) {
            for (int j = 0; j < o_.watches_each; ++j) {
                std::string token = "w" + std::to_string(c.index) + "-" + std::to_string(j);
                c.out += message(XS_WATCH, 1, std::string{"/flood"} + '\0' + token + '\0');
            }
        }
        epoll_event ev{};
        ev.events = EPOLLOUT | EPOLLRDHUP;
        ev.data.u64 = static_cast<std::uint64_t>(c.index);
        return ::epoll_ctl(ep_.raw(), EPOLL_CTL_ADD, c.fd.raw(), &ev) == 0;
    }

    void refill(Conn& c) {
        requests_ += c.batch;
        c.out.clear();
        c.off = 0;
        c.batch = 0;
        std::string value(o_.value_bytes, 'x');
        while (c.out.size() < 32 * 1024) {
            if (c.watcher) {
                auto name = "/flood/w" + std::to_string(c.index) + "/n" +
                            std::to_string(c.next++ % static_cast<std::uint64_t>(o_.names));
                c.out += message(XS_WRITE, 2, path_value(name, value));
            } else {
                c.out += message(XS_READ, 3, nul_terminated(big_path));
            }
            ++c.batch;
        }
    }

    void loop() {
        std::vector<epoll_event> evs(256);
        while (!stop_) {
            int n = ::epoll_wait(ep_.raw(), evs.data(), static_cast<int>(evs.size()), 50);
            for (int i = 0; i < n && !stop_; ++i) {
                Conn& c = conns_[evs[static_cast<std::size_t>(i)].data.u64];
                if (evs[static_cast<std::size_t>(i)].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
                    ++hangups_;
                    c.fd.reset();   // leaves the epoll set
                    if (!open(c)) std::this_thread::sleep_for(std::chrono::milliseconds(10));
                    continue;
                }
                pump(c);
            }
        }
    }

    void pump(Conn& c) {
        for (int round = 0; round < 16; ++round) {
            if (c.off == c.out.size()) refill(c);
            ssize_t n = ::send(c.fd.raw(), c.out.data() + c.off, c.out.size() - c.off,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n <= 0) return;   // full (EAGAIN), or gone: EPOLLHUP will say so
            c.off += static_cast<std::size_t>(n);
        }
    }

    Options const& o_;
    UniqueFd ep_;
    std::vector<Conn> conns_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> requests_{0}, hangups_{0};
};

double percentile(std::vector<double> const& sorted, double p) {
    if (sorted.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

} // namespace

long rss_kb(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(f, line);)
        if (line.starts_with("VmRSS:")) return std::strtol(line.c_str() + 6, nullptr, 10);
    return 0;
}

Result run(Options const& o) {
    Result r;
    auto setup_deadline = Clock::now() + std::chrono::seconds(10);
    {
        UniqueFd fd = connect_unix(o.socket);
        if (!fd || !exchange(fd.raw(), message(XS_WRITE, 1, path_value(probe_path, probe_value)),
                             setup_deadline) ||
            !exchange(fd.raw(),
                      message(XS_WRITE, 2, path_value(big_path, std::string(o.value_bytes, 'b'))),
                      setup_deadline)) {
            r.error = "cannot set up the store through " + o.socket;
            return r;
        }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (o.daemon_pid) r.rss_start_kb = r.rss_peak_kb = rss_kb(o.daemon_pid);

    Flood flood{o};
    if (!flood.start(r.error)) return r;

    auto const request = message(XS_READ, 7, nul_terminated(probe_path));
    auto const t0 = Clock::now();
    auto const end = t0 + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(o.seconds));
    auto const interval = std::chrono::milliseconds(o.probe_interval_ms);
    auto const timeout = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(o.probe_timeout_s));
    auto next_probe = t0;
    auto next_rss = t0;
    while (Clock::now() < end) {
        auto now = Clock::now();
        if (o.daemon_pid && now >= next_rss) {
            r.rss_peak_kb = std::max(r.rss_peak_kb, rss_kb(o.daemon_pid));
            next_rss = now + std::chrono::milliseconds(100);
        }
        if (now < next_probe) {
            std::this_thread::sleep_for(std::min<Clock::duration>(next_probe - now, interval));
            continue;
        }
        // An ordinary xenstore-read: connect, ask, take the answer, hang up.
        ++r.probes;
        auto sent = Clock::now();
        UniqueFd fd = connect_unix(o.socket);
        auto reply = fd ? exchange(fd.raw(), request, sent + timeout) : std::nullopt;
        auto done = Clock::now();
        if (reply && *reply == probe_value) {
            ++r.answered;
            r.latency_ms.push_back(ms_between(sent, done));
        }
        next_probe = std::max(next_probe + interval, done);
    }
    flood.stop();
    r.flood_requests = flood.requests();
    r.hangups = flood.hangups();

    if (o.daemon_pid) {
        r.rss_peak_kb = std::max(r.rss_peak_kb, rss_kb(o.daemon_pid));
        auto settle_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o.settle_s));
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            r.rss_end_kb = rss_kb(o.daemon_pid);
        } while (Clock::now() < settle_end && r.rss_end_kb > r.rss_start_kb + 4096);
    }

    auto sorted = r.latency_ms;
    std::sort(sorted.begin(), sorted.end());
    r.p50_ms = percentile(sorted, 0.50);
    r.p99_ms = percentile(sorted, 0.99);
    r.max_ms = sorted.empty() ? 0 : sorted.back();
    return r;
}

DaemonProcess DaemonProcess::start(std::vector<std::string> const& argv, std::string const& socket,
                                   std::string& err, std::string const& log) {
    DaemonProcess d;
    std::vector<char*> args;
    for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
        err = std::string("fork: ") + std::strerror(errno);
        return d;
    }
    if (pid == 0) {
        int null = ::open("/dev/null", O_RDWR);
        int out = log.empty() ? null : ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (null >= 0) ::dup2(null, 0);
        if (out >= 0) {
            ::dup2(out, 1);
            ::dup2(out, 2);
        }
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    d.pid_ = pid;
    for (int i = 0; i < 1000; ++i) {
        if (connect_unix(socket)) return d;
        if (!d.alive()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    err = argv[0] + " did not come up on " + socket;
    d.stop();
    return d;
}

DaemonProcess& DaemonProcess::operator=(DaemonProcess&& o) noexcept {
    if (this != &o) {
        stop();
        pid_ = std::exchange(o.pid_, 0);
    }
    return *this;
}

bool DaemonProcess::alive() {
    if (pid_ <= 0) return false;
    if (::waitpid(pid_, nullptr, WNOHANG) == 0) return true;
    pid_ = 0;
    return false;
}

void DaemonProcess::stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
}

} // namespace kxen::xenstore::flood
