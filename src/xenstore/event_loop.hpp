// kxen::xenstore::EventLoop: epoll, level-triggered, with a 64-bit tag per fd.
#pragma once
#include <cstdint>
#include <span>
#include <sys/epoll.h>
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"

namespace kxen::xenstore {

class EventLoop {
public:
    static SysResult<EventLoop> create();

    SysResult<void> add(int fd, std::uint32_t events, std::uint64_t tag);
    SysResult<void> modify(int fd, std::uint32_t events, std::uint64_t tag);
    void remove(int fd);
    // Waits up to timeout_ms (-1: for ever) and fills out; the number of events (0 on EINTR).
    SysResult<std::size_t> wait(std::span<epoll_event> out, int timeout_ms);

private:
    explicit EventLoop(UniqueFd fd) : ep_{std::move(fd)} {}
    UniqueFd ep_;
};

} // namespace kxen::xenstore
