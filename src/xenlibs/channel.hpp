// kxen::xenlibs::Channel: the privileged channel (privcmd/protocol.hpp) as Xen's stable C
// libraries use it. Each library handle (xencall, xenevtchn, ...) is one connection, as each
// opens its own device node on Xen. The shared buffer is mapped once and told to kxend with
// its address, so the pointers a C caller stores in hypercall structures are followed as
// they are; hypercall buffers are pages handed out from it.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>
#include "common/mapping.hpp"
#include "common/unique_fd.hpp"
#include "privcmd/protocol.hpp"

namespace kxen::xenlibs {

class Channel {
public:
    // Connects to kxend ($KXEN_SOCKET, else the default socket) and shares `buffer_bytes`.
    // On failure returns null with errno set as opening Xen's device would: ENOENT when there
    // is no kxend (no socket, or nobody listening), EACCES when the caller may not use it.
    static std::unique_ptr<Channel> open(std::size_t buffer_bytes);

    // One request: the reply's ret (>= 0, or -errno), and the fd that came with it. A kxend
    // that went away answers -EIO; no call waits on a dead connection.
    std::int64_t call(privcmd::Op op, std::array<std::uint64_t, 6> a, UniqueFd* fd_out = nullptr,
                      std::uint64_t* val0 = nullptr);
    [[nodiscard]] int fd() const { return sock_.raw(); }

    // Pages of the shared buffer (zeroed), for hypercall arguments. Null with errno = ENOMEM
    // when the buffer is full.
    void* alloc_pages(std::size_t n);
    void free_pages(void* p, std::size_t n);
    [[nodiscard]] bool holds(void const* p, std::size_t len) const;

private:
    Channel(UniqueFd sock, UniqueFd mem, Mapping buf)
        : sock_{std::move(sock)}, mem_{std::move(mem)}, buf_{std::move(buf)}, used_(buf_.size() >> 12) {}

    UniqueFd sock_;
    UniqueFd mem_;
    Mapping buf_;
    std::mutex call_mu_;   // one request at a time on the socket: replies come in order
    std::mutex alloc_mu_;
    std::vector<bool> used_;   // per page of buf_
};

// What a privcmd ioctl returns to C: ret itself, or -1 with errno.
inline long c_result(std::int64_t ret) {
    if (ret >= 0) return static_cast<long>(ret);
    errno = static_cast<int>(-ret);
    return -1;
}

} // namespace kxen::xenlibs
