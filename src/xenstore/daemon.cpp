#include "xenstore/daemon.hpp"
#include <algorithm>
#include <array>
#include <csignal>
#include <fcntl.h>
#include <malloc.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>
#include "common/log.hpp"
#include "xenstore/socket_transport.hpp"

namespace kxen::xenstore {
namespace {

enum Kind : std::uint64_t { listen_tag = 1, signal_tag = 2, timer_tag = 3, conn_tag = 4, dom_exc_tag = 5 };
constexpr std::uint64_t tag(Kind k, std::uint64_t serial = 0) { return (std::uint64_t{k} << 56) | serial; }
constexpr Kind kind_of(std::uint64_t t) { return static_cast<Kind>(t >> 56); }
constexpr std::uint64_t serial_of(std::uint64_t t) { return t & ((std::uint64_t{1} << 56) - 1); }

SysResult<sockaddr_un> unix_address(std::string const& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return sys_fail(ENAMETOOLONG, "socket path " + path);
    path.copy(a.sun_path, path.size());
    return a;
}

} // namespace

SysResult<std::unique_ptr<Daemon>> Daemon::create(DaemonOptions opts, DomainPortFactory factory) {
    auto loop = EventLoop::create();
    if (!loop) return std::unexpected(loop.error());
    std::unique_ptr<Daemon> d{new Daemon(std::move(opts), std::move(factory), std::move(*loop))};
    if (auto s = d->start(); !s) return std::unexpected(s.error());
    return d;
}

Daemon::Daemon(DaemonOptions opts, DomainPortFactory factory, EventLoop loop)
    : opts_{std::move(opts)}, loop_{std::move(loop)}, server_{opts_.config, std::move(factory)} {
    server_.set_hooks(this);
}

Daemon::~Daemon() {
    server_.set_hooks(nullptr);
    server_.set_sink(nullptr);
}

SysResult<void> Daemon::start() {
    if (opts_.state_dir) {
        auto p = Persist::open(*opts_.state_dir);
        if (!p) return std::unexpected(p.error());
        persist_ = std::move(*p);
        auto loaded = persist_->load(server_.store());
        if (!loaded) return std::unexpected(loaded.error());
        if (loaded->found) {
            log::info("restored {} nodes, {} domains, {} guest watches from {} ({} records{}{})",
                      server_.store().size(), loaded->domains.size(), loaded->watches.size(),
                      opts_.state_dir->string(), loaded->records,
                      loaded->journal_cut ? ", journal cut short" : "",
                      loaded->repaired ? fmt::format(", {} entries repaired", loaded->repaired)
                                       : std::string{});
        }
        for (auto const& d : loaded->domains) attach_saved(d);
        for (auto const& d : loaded->domains)
            if (d.target) (void)server_.set_target(d.id, *d.target);
        for (auto const& w : loaded->watches)
            server_.restore_watch(w.id, w.path, w.token, w.prefix_len);
        server_.set_sink(persist_.get());
        if (auto s = persist_->snapshot(server_.store(), server_.domains(), server_.watches()); !s)
            return s;
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return sys_fail("sigprocmask");
    std::signal(SIGPIPE, SIG_IGN);
    signal_fd_ = UniqueFd{::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)};
    if (!signal_fd_) return sys_fail("signalfd");
    if (auto a = loop_.add(signal_fd_.raw(), EPOLLIN, tag(signal_tag)); !a) return a;

    timer_fd_ = UniqueFd{::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)};
    if (!timer_fd_) return sys_fail("timerfd_create");
    itimerspec every_second{{1, 0}, {1, 0}};
    if (::timerfd_settime(timer_fd_.raw(), 0, &every_second, nullptr) != 0)
        return sys_fail("timerfd_settime");
    if (auto a = loop_.add(timer_fd_.raw(), EPOLLIN, tag(timer_tag)); !a) return a;
    if (opts_.dom_exc_fd >= 0)
        if (auto a = loop_.add(opts_.dom_exc_fd, EPOLLIN, tag(dom_exc_tag)); !a) return a;

    return listen();
}

// A daemon restarted right after it died may come before kxend has closed the dead one's
// event channels; the guest's port binds again once it has, a moment later.
void Daemon::attach_saved(SavedDomain const& d) {
    for (int tries = 0;; ++tries) {
        (void)server_.introduce(d.id, d.mfn, d.port, false);
        Domain const* now = server_.domains().find(d.id);
        if (!opts_.live_domains || (now && now->conn) || tries == 20) return;
        auto alive = opts_.live_domains();
        if (alive && std::none_of(alive->begin(), alive->end(), [&](LiveDomain const& l) { return l.id == d.id; }))
            return;
        ::usleep(100'000);
    }
}

void Daemon::check_domains() {
    if (!opts_.live_domains) return;
    if (auto alive = opts_.live_domains()) server_.check_domains(*alive);
}

SysResult<void> Daemon::listen() {
    std::filesystem::path path{opts_.socket_path};
    std::error_code ec;
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);

    auto addr = unix_address(opts_.socket_path);
    if (!addr) return std::unexpected(addr.error());
    // A socket file left by a dead daemon is removed; a live daemon's is not.
    {
        UniqueFd probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        if (probe && ::connect(probe.raw(), reinterpret_cast<sockaddr const*>(&*addr),
                               sizeof *addr) == 0)
            return sys_fail(EADDRINUSE, "another xenstored serves " + opts_.socket_path);
    }
    // Bind under a temporary name and rename into place once listening, so that clients that
    // wait for the path to appear never find it refusing connections.
    std::string tmp = opts_.socket_path + "~";
    auto taddr = unix_address(tmp);
    bool via_tmp = taddr.has_value();
    auto const& bind_addr = via_tmp ? *taddr : *addr;
    ::unlink(via_tmp ? tmp.c_str() : opts_.socket_path.c_str());

    listen_fd_ = UniqueFd{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
    if (!listen_fd_) return sys_fail("socket");
    if (::bind(listen_fd_.raw(), reinterpret_cast<sockaddr const*>(&bind_addr), sizeof bind_addr))
        return sys_fail("bind " + std::string{bind_addr.sun_path});
    ::chmod(bind_addr.sun_path, 0600);
    if (::listen(listen_fd_.raw(), 128) != 0) return sys_fail("listen");
    if (via_tmp && ::rename(tmp.c_str(), opts_.socket_path.c_str()) != 0)
        return sys_fail("rename " + tmp);
    return loop_.add(listen_fd_.raw(), EPOLLIN, tag(listen_tag));
}

void Daemon::accept_some() {
    // A bounded batch: the listening socket is level-triggered, and clients already connected
    // get their turns before the next batch.
    for (int i = 0; i < 64; ++i) {
        UniqueFd fd{::accept4(listen_fd_.raw(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)};
        if (!fd) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log::warn("accept: {}", SysError::last("accept4").message());
            return;
        }
        if (!server_.accepting()) {
            // Closed at once rather than left in the backlog, where it would hold up clients
            // that come after the crowd has gone.
            if (!refusing_)
                log::warn("{} socket clients: refusing more (--max-connections)",
                          server_.config().max_connections);
            refusing_ = true;
            continue;
        }
        refusing_ = false;
        server_.connect(std::make_unique<SocketTransport>(std::move(fd)), Identity{0, true, {}});
    }
}

void Daemon::give_back_memory() {
    // Clients that flooded us and left free their buffers; glibc keeps the freed heap pages
    // until asked to return them.
    if (server_.take_freed() >= (1u << 20)) ::malloc_trim(0);
}

std::uint32_t Daemon::interest(Connection const& c) const {
    if (!c.transport().droppable()) return EPOLLIN;   // a ring's event channel: always consume
    std::uint32_t m = 0;
    if (server_.wants_read(c)) m |= EPOLLIN;
    if (server_.wants_write(c)) m |= EPOLLOUT;
    return m;
}

void Daemon::added(Connection& c) {
    int fd = c.transport().wait_fd();
    if (fd < 0) return;
    c.io_mask = interest(c);
    if (auto a = loop_.add(fd, c.io_mask, tag(conn_tag, c.serial())); !a)
        log::warn("{}: {}", c.transport().describe(), a.error().message());
}

void Daemon::removed(Connection& c) {
    int fd = c.transport().wait_fd();
    if (fd >= 0) loop_.remove(fd);
}

void Daemon::update(Connection& c) {
    int fd = c.transport().wait_fd();
    if (fd < 0 || c.dead) return;
    auto m = interest(c);
    if (m == c.io_mask) return;
    c.io_mask = m;
    (void)loop_.modify(fd, m, tag(conn_tag, c.serial()));
}

void Daemon::save(bool final) {
    if (!persist_) return;
    server_.flush();
    if (final || persist_->wants_snapshot() || persist_->failed()) {
        if (auto s = persist_->snapshot(server_.store(), server_.domains(), server_.watches()); !s)
            log::error("saving state: {}", s.error().message());
    }
}

int Daemon::run() {
    log::info("serving {} ({} nodes{})", opts_.socket_path, server_.store().size(),
              opts_.state_dir ? ", state in " + opts_.state_dir->string() : std::string{});
    std::array<epoll_event, 64> events;
    bool stop = false;
    while (!stop) {
        auto n = loop_.wait(events, server_.has_pending_work() ? 0 : -1);
        if (!n) {
            log::error("{}", n.error().message());
            return 1;
        }
        for (std::size_t i = 0; i < *n; ++i) {
            auto t = events[i].data.u64;
            switch (kind_of(t)) {
            case listen_tag: accept_some(); break;
            case signal_tag: {
                signalfd_siginfo si;
                while (::read(signal_fd_.raw(), &si, sizeof si) == sizeof si) {
                    if (si.ssi_signo == SIGHUP) {
                        save(true);
                    } else {
                        stop = true;
                    }
                }
                break;
            }
            case timer_tag: {
                std::uint64_t ticks;
                (void)!::read(timer_fd_.raw(), &ticks, sizeof ticks);
                check_domains();
                save(false);
                give_back_memory();
                break;
            }
            case dom_exc_tag: {
                std::uint64_t raised;
                (void)!::read(opts_.dom_exc_fd, &raised, sizeof raised);
                check_domains();
                break;
            }
            case conn_tag: {
                Connection* c = server_.find(serial_of(t));
                if (!c || c->dead) break;
                if (c->transport().droppable() && (events[i].events & (EPOLLHUP | EPOLLERR)) &&
                    !(events[i].events & EPOLLIN)) {
                    server_.drop(*c, ProtoError::comm, "hung up");
                    break;
                }
                server_.service(*c);
                break;
            }
            default: break;
            }
        }
        server_.flush();
    }
    log::info("exiting: saving state");
    save(true);
    ::unlink(opts_.socket_path.c_str());
    return 0;
}

} // namespace kxen::xenstore
