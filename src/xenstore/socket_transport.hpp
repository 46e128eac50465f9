// kxen::xenstore::SocketTransport: a client connected to kxenstored's Unix socket. The fd is
// non-blocking; the event loop polls it.
#pragma once
#include "common/unique_fd.hpp"
#include "xenstore/transport.hpp"

namespace kxen::xenstore {

class SocketTransport final : public Transport {
public:
    explicit SocketTransport(UniqueFd fd) : fd_{std::move(fd)} {}
    IoResult read(std::span<char> dst) override;
    IoResult write(std::span<char const> src) override;
    int wait_fd() const override { return fd_.raw(); }
    bool poll_writable() const override { return true; }
    bool droppable() const override { return true; }
    std::string describe() const override;

private:
    UniqueFd fd_;
};

} // namespace kxen::xenstore
