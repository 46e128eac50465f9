#include "xenstore/event_loop.hpp"
#include <cerrno>

namespace kxen::xenstore {

SysResult<EventLoop> EventLoop::create() {
    UniqueFd fd{::epoll_create1(EPOLL_CLOEXEC)};
    if (!fd) return sys_fail("epoll_create1");
    return EventLoop{std::move(fd)};
}

SysResult<void> EventLoop::add(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(ep_.raw(), EPOLL_CTL_ADD, fd, &ev) != 0) return sys_fail("epoll_ctl ADD");
    return {};
}

SysResult<void> EventLoop::modify(int fd, std::uint32_t events, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = tag;
    if (::epoll_ctl(ep_.raw(), EPOLL_CTL_MOD, fd, &ev) != 0) return sys_fail("epoll_ctl MOD");
    return {};
}

void EventLoop::remove(int fd) { ::epoll_ctl(ep_.raw(), EPOLL_CTL_DEL, fd, nullptr); }

SysResult<std::size_t> EventLoop::wait(std::span<epoll_event> out, int timeout_ms) {
    int n = ::epoll_wait(ep_.raw(), out.data(), static_cast<int>(out.size()), timeout_ms);
    if (n < 0) {
        if (errno == EINTR) return 0;
        return sys_fail("epoll_wait");
    }
    return static_cast<std::size_t>(n);
}

} // namespace kxen::xenstore
