#include "xenstore/socket_transport.hpp"
#include <cerrno>
#include <fmt/format.h>
#include <sys/socket.h>
#include <unistd.h>

namespace kxen::xenstore {

IoResult SocketTransport::read(std::span<char> dst) {
    for (;;) {
        ssize_t n = ::read(fd_.raw(), dst.data(), dst.size());
        if (n > 0) return static_cast<std::size_t>(n);
        if (n == 0) return std::unexpected(TransportError::closed);
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno == ECONNRESET) return std::unexpected(TransportError::closed);
        return std::unexpected(TransportError::io);
    }
}

IoResult SocketTransport::write(std::span<char const> src) {
    for (;;) {
        ssize_t n = ::send(fd_.raw(), src.data(), src.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        if (errno == EPIPE || errno == ECONNRESET) return std::unexpected(TransportError::closed);
        return std::unexpected(TransportError::io);
    }
}

std::string SocketTransport::describe() const { return fmt::format("socket fd {}", fd_.raw()); }

} // namespace kxen::xenstore
