// The backends' event loops wait on epoll for one thing per fd: that it became readable.
#pragma once
#include <sys/epoll.h>

namespace kxen::backends {

inline void epoll_watch(int ep, int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

} // namespace kxen::backends
