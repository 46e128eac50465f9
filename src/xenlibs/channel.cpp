#include "xenlibs/channel.hpp"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <cerrno>
#include <cstring>
#include <string>
#include "privcmd/fd_passing.hpp"

namespace kxen::xenlibs {

std::unique_ptr<Channel> Channel::open(std::size_t buffer_bytes) {
    auto path = privcmd::socket_path({});
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        errno = ENAMETOOLONG;
        return nullptr;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd sock{::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)};
    if (!sock) return nullptr;
    if (::connect(sock.raw(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        // A socket file nobody listens on is a hypervisor that is not there.
        if (errno == ECONNREFUSED) errno = ENOENT;
        return nullptr;
    }
    UniqueFd mem{::memfd_create("kxen-hypercall-buffers", MFD_CLOEXEC | MFD_ALLOW_SEALING)};
    if (!mem) return nullptr;
    buffer_bytes = (buffer_bytes + 4095) & ~std::size_t{4095};
    if (::ftruncate(mem.raw(), static_cast<off_t>(buffer_bytes)) < 0) return nullptr;
    void* p = ::mmap(nullptr, buffer_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, mem.raw(), 0);
    if (p == MAP_FAILED) return nullptr;
    std::unique_ptr<Channel> ch{new Channel{std::move(sock), std::move(mem), Mapping{p, buffer_bytes}}};
    privcmd::Request rq{privcmd::magic, privcmd::Op::hello, {buffer_bytes, reinterpret_cast<std::uint64_t>(p)}};
    if (!privcmd::send_msg(ch->sock_.raw(), &rq, sizeof rq, ch->mem_.raw())) {
        errno = ENOENT;
        return nullptr;
    }
    privcmd::Reply rp{};
    auto n = privcmd::recv_msg(ch->sock_.raw(), &rp, sizeof rp);
    if (!n || *n != sizeof rp) {
        errno = ENOENT;
        return nullptr;
    }
    if (rp.ret < 0) {
        errno = static_cast<int>(-rp.ret);
        return nullptr;
    }
    return ch;
}

std::int64_t Channel::call(privcmd::Op op, std::array<std::uint64_t, 6> a, UniqueFd* fd_out, std::uint64_t* val0) {
    privcmd::Request rq{privcmd::magic, op, {a[0], a[1], a[2], a[3], a[4], a[5]}};
    privcmd::Reply rp{};
    {
        std::lock_guard g{call_mu_};
        if (!privcmd::send_msg(sock_.raw(), &rq, sizeof rq)) return -EIO;
        auto n = privcmd::recv_msg(sock_.raw(), &rp, sizeof rp, fd_out);
        if (!n || *n != sizeof rp) return -EIO;
    }
    if (val0) *val0 = rp.val[0];
    return rp.ret;
}

void* Channel::alloc_pages(std::size_t n) {
    std::lock_guard g{alloc_mu_};
    std::size_t run = 0;
    for (std::size_t i = 0; n && i < used_.size(); ++i) {
        run = used_[i] ? 0 : run + 1;
        if (run == n) {
            auto first = i + 1 - n;
            for (std::size_t j = first; j <= i; ++j) used_[j] = true;
            return buf_.data() + (first << 12);
        }
    }
    errno = ENOMEM;
    return nullptr;
}

void Channel::free_pages(void* p, std::size_t n) {
    if (!p || !holds(p, n << 12)) return;
    auto first = static_cast<std::size_t>(static_cast<std::byte*>(p) - buf_.data()) >> 12;
    // The next user gets zeroed pages, and the memory goes back to the host.
    (void)::fallocate(mem_.raw(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(first << 12),
                      static_cast<off_t>(n << 12));
    std::lock_guard g{alloc_mu_};
    for (std::size_t j = first; j < first + n; ++j) used_[j] = false;
}

bool Channel::holds(void const* p, std::size_t len) const {
    auto* b = static_cast<std::byte const*>(p);
    return b >= buf_.data() && len <= buf_.size() && static_cast<std::size_t>(b - buf_.data()) <= buf_.size() - len;
}

} // namespace kxen::xenlibs
