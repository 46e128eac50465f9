#include "backends/blk/uring.hpp"
#include <liburing.h>
#include <sys/eventfd.h>
#include <cerrno>
#include <utility>

namespace kxen::backends::blk {

std::expected<Uring, int> Uring::create(unsigned entries) {
    Uring u;
    u.ring_ = std::make_unique<io_uring>();
    if (int rc = io_uring_queue_init(entries, u.ring_.get(), 0); rc < 0) {
        u.ring_.reset();
        return std::unexpected(rc);
    }
    u.event_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!u.event_) return std::unexpected(-errno);
    if (int rc = io_uring_register_eventfd(u.ring_.get(), u.event_.raw()); rc < 0) return std::unexpected(rc);
    return u;
}

Uring::Uring(Uring&& o) noexcept : ring_{std::move(o.ring_)}, event_{std::move(o.event_)} {}

Uring& Uring::operator=(Uring&& o) noexcept {
    if (this != &o) {
        if (ring_) io_uring_queue_exit(ring_.get());
        ring_ = std::move(o.ring_);
        event_ = std::move(o.event_);
    }
    return *this;
}

Uring::~Uring() {
    if (ring_) io_uring_queue_exit(ring_.get());
}

// A free submission entry: when the queue is full, what is in it goes to the kernel first.
::io_uring_sqe* Uring::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(ring_.get());
    while (!s) {
        io_uring_submit(ring_.get());
        s = io_uring_get_sqe(ring_.get());
    }
    return s;
}

void Uring::readv(int fd, std::span<iovec const> iov, std::uint64_t offset, std::uint64_t tag) {
    io_uring_sqe* s = sqe();
    io_uring_prep_readv(s, fd, iov.data(), static_cast<unsigned>(iov.size()), offset);
    io_uring_sqe_set_data64(s, tag);
}

void Uring::writev(int fd, std::span<iovec const> iov, std::uint64_t offset, std::uint64_t tag) {
    io_uring_sqe* s = sqe();
    io_uring_prep_writev(s, fd, iov.data(), static_cast<unsigned>(iov.size()), offset);
    io_uring_sqe_set_data64(s, tag);
}

void Uring::fdatasync(int fd, std::uint64_t tag, bool drain) {
    io_uring_sqe* s = sqe();
    io_uring_prep_fsync(s, fd, IORING_FSYNC_DATASYNC);
    if (drain) io_uring_sqe_set_flags(s, IOSQE_IO_DRAIN);
    io_uring_sqe_set_data64(s, tag);
}

void Uring::submit() { io_uring_submit(ring_.get()); }

bool Uring::next(bool wait, Completion& c) {
    io_uring_cqe* cqe = nullptr;
    int rc = wait ? io_uring_wait_cqe(ring_.get(), &cqe) : io_uring_peek_cqe(ring_.get(), &cqe);
    if (rc < 0 || !cqe) return false;
    c = {io_uring_cqe_get_data64(cqe), cqe->res};
    io_uring_cqe_seen(ring_.get(), cqe);
    return true;
}

} // namespace kxen::backends::blk
