#include "backends/console/console_backend.hpp"
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <cstring>
#include <filesystem>
#include <xen/hvm/params.h>
#include "backends/epoll_watch.hpp"
#include "common/log.hpp"

namespace kxen::backends {

ConsoleBackend::ConsoleBackend(privcmd::Client c, std::string state_dir)
    : c_{std::move(c)}, dir_{std::move(state_dir)} {}

void ConsoleBackend::stop() {
    std::uint64_t one = 1;
    (void)!::write(stop_.raw(), &one, sizeof one);
}

int ConsoleBackend::run() {
    auto cdir = std::filesystem::path(dir_) / "console";
    std::error_code ec;
    std::filesystem::create_directories(cdir, ec);
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    itimerspec every{{0, 200'000'000}, {0, 1'000'000}};   // look for new guests 5 times a second
    ::timerfd_settime(timer_.raw(), 0, &every, nullptr);
    listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    auto path = (cdir / "backend.sock").string();
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    ::unlink(path.c_str());
    auto old = ::umask(0077);
    bool ok = ::bind(listen_.raw(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(listen_.raw(), 16) == 0;
    ::umask(old);
    if (!ok) {
        log::error("console: cannot listen on {}: {}", path, std::strerror(errno));
        return 1;
    }
    for (int fd : {stop_.raw(), timer_.raw(), listen_.raw()}) epoll_watch(epoll_.raw(), fd);
    log::info("console backend ready on {}", path);
    connect_store();

    while (true) {
        epoll_event evs[32];
        int n = ::epoll_wait(epoll_.raw(), evs, 32, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return 1;
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == stop_.raw()) return 0;
            if (fd == timer_.raw()) {
                std::uint64_t ticks;
                (void)!::read(fd, &ticks, sizeof ticks);
                if (!store_) connect_store();
                rescan();
            } else if (store_ && fd == store_->fileno()) {
                store_event();
            } else if (fd == listen_.raw()) {
                accept_client();
            } else if (auto it = event_fds_.find(fd); it != event_fds_.end()) {
                std::uint64_t cnt;
                (void)!::read(fd, &cnt, sizeof cnt);
                if (auto g = guests_.find(it->second); g != guests_.end()) drain(g->second);
            } else if (auto p = pty_fds_.find(fd); p != pty_fds_.end()) {
                if (auto g = guests_.find(p->second); g != guests_.end()) pty_input(g->second);
            } else if (clients_.contains(fd)) {
                client_input(fd);
            }
        }
    }
}

void ConsoleBackend::connect_store() {
    auto h = xs::Handle::open(xs::socket_path(dir_));
    if (!h) return;
    for (auto const* special : {"@introduceDomain", "@releaseDomain"})
        if (auto r = h->watch(special, "domains"); !r) {
            log::warn("console: {}", r.error().message);
            return;
        }
    store_.emplace(std::move(*h));
    epoll_watch(epoll_.raw(), store_->fileno());
}

void ConsoleBackend::store_event() {
    bool introduced = false;
    while (auto ev = store_->next_event()) introduced |= ev->first == "@introduceDomain";
    // An introduced domain has its console set up now, whatever an earlier look found.
    if (introduced) refused_.clear();
    rescan();
}

void ConsoleBackend::rescan() {
    auto list = c_.domain_list();
    if (!list) return;
    std::map<std::uint16_t, bool> alive;
    for (auto const& d : *list) {
        alive[d.domain] = true;
        if (!guests_.contains(d.domain) && !refused_.contains(d.domain)) attach(d.domain);
    }
    std::vector<std::uint16_t> gone;
    for (auto& [id, g] : guests_)
        if (!alive.contains(id)) gone.push_back(id);
    for (auto id : gone) detach(id);
    std::erase_if(refused_, [&](std::uint16_t id) { return !alive.contains(id); });
    for (auto& [id, g] : guests_)
        if (!g.tty_published) publish_tty(g);
}

void ConsoleBackend::open_pty(Guest& g) {
    UniqueFd master{::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)};
    char const* name = master ? ::ptsname(master.raw()) : nullptr;
    if (!name || ::grantpt(master.raw()) != 0 || ::unlockpt(master.raw()) != 0) {
        log::warn("console: d{}: no pty: {}", g.domid, std::strerror(errno));
        return;
    }
    std::string tty = name;
    UniqueFd slave{::open(tty.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC)};
    termios t{};
    // Raw, as xenconsoled makes it: the guest's bytes pass unchanged both ways.
    if (!slave || ::tcgetattr(slave.raw(), &t) != 0) return;
    ::cfmakeraw(&t);
    ::tcsetattr(slave.raw(), TCSANOW, &t);
    ::chmod(tty.c_str(), 0600);
    g.pty = std::move(master);
    g.pty_slave = std::move(slave);
    g.tty = std::move(tty);
    epoll_watch(epoll_.raw(), g.pty.raw());
    pty_fds_[g.pty.raw()] = g.domid;
}

// The node goes where the toolstack put the console's ring-ref and port; a domain without them
// in the store (built by hand) gets none, so nothing is left behind in the store when it goes.
void ConsoleBackend::publish_tty(Guest& g) {
    if (!store_ || g.tty.empty()) return;
    auto dir = "/local/domain/" + std::to_string(g.domid) + "/console";
    if (!store_->try_read(dir + "/port")) return;
    if (store_->write(dir + "/tty", g.tty)) g.tty_published = true;
}

void ConsoleBackend::pty_input(Guest& g) {
    char buf[1024];
    auto n = ::read(g.pty.raw(), buf, sizeof buf);
    if (n <= 0) return;
    g.ring->put_input({buf, static_cast<std::size_t>(n)});
    (void)c_.evtchn_notify(g.port.port);
}

void ConsoleBackend::attach(std::uint16_t domid) {
    auto pfn = c_.get_hvm_param(domid, HVM_PARAM_CONSOLE_PFN);
    auto port = c_.get_hvm_param(domid, HVM_PARAM_CONSOLE_EVTCHN);
    if (!pfn || !port || !*pfn || !*port) return;   // no PV console (yet)
    auto page = c_.map_foreign(domid, *pfn, 1);
    if (!page) {
        log::warn("console: d{}: cannot map console page {:#x}", domid, *pfn);
        return;
    }
    auto bound = c_.evtchn_bind_interdomain(domid, static_cast<std::uint32_t>(*port));
    if (!bound) {
        // A port binds once: not offered to dom0, or someone else has it. Don't retry.
        log::warn("console: d{}: cannot bind console port {}", domid, *port);
        refused_.insert(domid);
        return;
    }
    // A domain xl built has its name only in the store, as on Xen.
    auto name = c_.get_name(domid).value_or("");
    if (name.empty() && store_) name = store_->try_read("/local/domain/" + std::to_string(domid) + "/name").value_or("");
    if (name.empty()) name = std::to_string(domid);
    Guest g{domid, std::move(name), std::move(*page), std::move(*bound), nullptr, {}, {}, {}, {}, {}};
    // SAFETY: the mapping is one page of the guest's RAM, the size of xencons_interface or more.
    g.ring = std::make_unique<ConsoleRing>(reinterpret_cast<xencons_interface*>(g.page.map.data()));
    auto logpath = std::filesystem::path(dir_) / "console" / ("guest-" + g.name + ".log");
    g.log.reset(::open(logpath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
    epoll_watch(epoll_.raw(), g.port.fd.raw());
    event_fds_[g.port.fd.raw()] = domid;
    auto& ref = guests_.emplace(domid, std::move(g)).first->second;
    open_pty(ref);
    publish_tty(ref);
    drain(ref);
}

void ConsoleBackend::detach(std::uint16_t domid) {
    auto it = guests_.find(domid);
    if (it == guests_.end()) return;
    drain(it->second);   // what the guest wrote just before it went
    event_fds_.erase(it->second.port.fd.raw());
    pty_fds_.erase(it->second.pty.raw());
    for (int cfd : it->second.clients) drop_client(cfd);
    (void)c_.evtchn_unbind(it->second.port.port);
    guests_.erase(it);
}

void ConsoleBackend::drain(Guest& g) {
    bool corrupt = false;
    auto out = g.ring->peek_output(corrupt);
    if (corrupt) log::warn("console: d{}: ring indexes out of range; output dropped", g.domid);
    if (out.empty()) return;
    if (g.log) (void)!::write(g.log.raw(), out.data(), out.size());
    // Freed only once logged: a backend killed in between (and restarted by kxend) logs these
    // bytes again rather than losing them. xenconsoled frees the ring first, then buffers.
    g.ring->consume(out.size());
    for (int cfd : g.clients) (void)!::send(cfd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    // A full pty (nobody reading it) drops what does not fit; the log has it all.
    if (g.pty) (void)!::write(g.pty.raw(), out.data(), out.size());
    (void)c_.evtchn_notify(g.port.port);   // the guest may be waiting for room
}

void ConsoleBackend::accept_client() {
    int fd = ::accept4(listen_.raw(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    client_fds_.emplace(fd, UniqueFd{fd});
    clients_[fd] = 0;
    epoll_watch(epoll_.raw(), fd);
}

// A client first names its domain ("<domid>\n"), then everything it sends is keyboard input.
void ConsoleBackend::client_input(int fd) {
    char buf[1024];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return drop_client(fd);
    auto& dom = clients_[fd];
    std::string_view data{buf, static_cast<std::size_t>(n)};
    if (dom == 0) {
        auto nl = data.find('\n');
        if (nl == std::string_view::npos) return drop_client(fd);
        auto id = std::atoi(std::string(data.substr(0, nl)).c_str());
        auto g = guests_.find(static_cast<std::uint16_t>(id));
        if (id <= 0 || g == guests_.end()) {
            (void)!::send(fd, "ENOENT\n", 7, MSG_NOSIGNAL);
            return drop_client(fd);
        }
        (void)!::send(fd, "OK\n", 3, MSG_NOSIGNAL);
        dom = static_cast<std::uint16_t>(id);
        g->second.clients.push_back(fd);
        data.remove_prefix(nl + 1);
    }
    auto g = guests_.find(dom);
    if (g == guests_.end() || data.empty()) return;
    g->second.ring->put_input(data);
    (void)c_.evtchn_notify(g->second.port.port);
}

void ConsoleBackend::drop_client(int fd) {
    auto it = clients_.find(fd);
    if (it == clients_.end()) return;
    if (auto g = guests_.find(it->second); g != guests_.end()) std::erase(g->second.clients, fd);
    ::epoll_ctl(epoll_.raw(), EPOLL_CTL_DEL, fd, nullptr);
    clients_.erase(it);
    client_fds_.erase(fd);
}

} // namespace kxen::backends
