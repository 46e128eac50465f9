#include "privcmd/fd_passing.hpp"
#include <sys/socket.h>
#include <cstring>

namespace kxen::privcmd {

SysResult<void> send_msg(int sock, void const* data, std::size_t len, int fd) {
    iovec iov{const_cast<void*>(data), len};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))]{};
    if (fd >= 0) {
        m.msg_control = ctl;
        m.msg_controllen = sizeof ctl;
        auto* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    do n = ::sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) return sys_fail("sendmsg");
    if (static_cast<std::size_t>(n) != len) return sys_fail(EMSGSIZE, "sendmsg: short write");
    return {};
}

SysResult<std::size_t> recv_msg(int sock, void* data, std::size_t len, UniqueFd* fd) {
    iovec iov{data, len};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))]{};
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ssize_t n;
    do n = ::recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0) return sys_fail("recvmsg");
    for (auto* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int got;
        std::memcpy(&got, CMSG_DATA(c), sizeof got);
        if (fd) fd->reset(got);
        else ::close(got);   // not wanted: never leak a descriptor a peer pushed at us
    }
    if (m.msg_flags & MSG_TRUNC) return sys_fail(EMSGSIZE, "recvmsg: message truncated");
    return static_cast<std::size_t>(n);
}

} // namespace kxen::privcmd
