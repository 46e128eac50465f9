// kxen::backends::blk::Uring: an io_uring (liburing) whose completions are announced on an
// eventfd, so the backend's epoll loop learns of them like of any other event.
#pragma once
#include <sys/uio.h>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include "common/unique_fd.hpp"

struct io_uring;
struct io_uring_sqe;

namespace kxen::backends::blk {

class Uring {
public:
    // -errno if the kernel has no io_uring for us (too old, disabled, a seccomp filter).
    static std::expected<Uring, int> create(unsigned entries);
    Uring(Uring&&) noexcept;
    Uring& operator=(Uring&&) noexcept;
    ~Uring();

    // Each op completes with `tag` and the syscall's result (bytes, or -errno). `drain`: it
    // starts only after everything queued before it has completed.
    void readv(int fd, std::span<iovec const> iov, std::uint64_t offset, std::uint64_t tag);
    void writev(int fd, std::span<iovec const> iov, std::uint64_t offset, std::uint64_t tag);
    void fdatasync(int fd, std::uint64_t tag, bool drain);
    // Hands what was queued to the kernel.
    void submit();
    // Calls f(tag, result) for each completion there is; with wait, waits for one first.
    template <typename F> unsigned reap(bool wait, F&& f) {
        unsigned n = 0;
        Completion c;
        while (next(wait && n == 0, c)) {
            f(c.tag, c.result);
            ++n;
        }
        return n;
    }
    int event_fd() const { return event_.raw(); }

private:
    struct Completion {
        std::uint64_t tag;
        std::int32_t result;
    };
    Uring() = default;
    bool next(bool wait, Completion& c);
    ::io_uring_sqe* sqe();

    std::unique_ptr<io_uring> ring_;
    UniqueFd event_;
};

} // namespace kxen::backends::blk
