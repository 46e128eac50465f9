#include "privcmd/server.hpp"
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/un.h>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <xen/grant_table.h>
#include "common/log.hpp"
#include "common/mapping.hpp"
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"
#include "privcmd/fd_passing.hpp"
#include "privcmd/protocol.hpp"
#include "privcmd/session.hpp"

namespace kxen::privcmd {
namespace {

// One dom0 client's socket: requests in, replies out, in order.
class Connection {
public:
    Connection(hv::Hv& hv, UniqueFd fd) : fd_{std::move(fd)}, session_{hv} {}

    void serve() {
        Request rq;
        UniqueFd passed;
        while (true) {
            auto n = recv_msg(fd_.raw(), &rq, sizeof rq, &passed);
            if (!n || *n == 0) return;
            Reply rp{};
            int out_fd = -1;
            if (*n != sizeof rq || rq.magic != magic) {
                rp.ret = -static_cast<std::int64_t>(XenErr::inval);
            } else {
                rp = session_.handle(rq, passed, out_fd);
            }
            passed.reset();
            if (!send_msg(fd_.raw(), &rp, sizeof rp, out_fd)) return;
        }
    }

private:
    UniqueFd fd_;
    Session session_;   // goes first: what the client bound is released before its socket closes
};

} // namespace

Server::Server(hv::Hv& hv, UniqueFd fd, std::string path)
    : hv_{&hv}, fd_{std::move(fd)}, path_{std::move(path)}, thread_{[this] { accept_loop(); }} {}

Server::~Server() { (void)stop(); }

bool Server::stop() {
    if (stop_.exchange(true)) return true;
    ::shutdown(fd_.raw(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::unlink(path_.c_str());
    std::unique_lock g{mu_};
    for (auto [id, c] : clients_)
        if (c >= 0) ::shutdown(c, SHUT_RDWR);   // the session's recv returns 0
    g.unlock();
    for (auto const& d : hv_->domains()) d->release_waiters();   // sessions waiting on a domain
    g.lock();
    if (!idle_.wait_for(g, std::chrono::seconds(10), [&] { return clients_.empty(); })) {
        log::warn("privcmd: {} client sessions still busy after 10 s", clients_.size());
        return false;
    }
    return true;
}

SysResult<std::unique_ptr<Server>> Server::listen(hv::Hv& hv, std::string const& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return sys_fail(ENAMETOOLONG, "socket path " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    UniqueFd fd{::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)};
    if (!fd) return sys_fail("socket");
    // A socket file left by a kxend that died is stale only if nobody answers on it.
    if (::connect(fd.raw(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
        return sys_fail(EADDRINUSE, "another kxend is listening on " + path);
    fd.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    ::unlink(path.c_str());
    auto old = ::umask(0077);   // mode 0600: only root (dom0) may talk to the hypervisor
    int r = ::bind(fd.raw(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (r < 0) return sys_fail("bind " + path);
    if (::listen(fd.raw(), 128) < 0) return sys_fail("listen");
    return std::unique_ptr<Server>(new Server(hv, std::move(fd), path));
}

void Server::accept_loop() {
    while (!stop_) {
        int c = ::accept4(fd_.raw(), nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                log::warn("privcmd: accept: out of file descriptors");
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            return;
        }
        std::uint64_t id;
        {
            std::lock_guard g{mu_};
            id = next_client_++;
            clients_[id] = c;
        }
        std::thread{[this, id, fd = UniqueFd{c}]() mutable {
            ::pthread_setname_np(::pthread_self(), "kxend-privcmd");
            {
                Connection conn{*hv_, std::move(fd)};
                conn.serve();
                // Before the socket closes, so that stop() never shuts down a reused number.
                std::lock_guard g{mu_};
                clients_[id] = -1;
            }
            std::lock_guard g{mu_};   // the session has released what it held
            clients_.erase(id);
            idle_.notify_all();
        }}.detach();
    }
}

} // namespace kxen::privcmd
