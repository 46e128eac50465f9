// kxen::xenstore::Transport: the byte stream under one connection. The protocol logic
// (Connection, Server) is the same for a client on the Unix socket and for a guest's shared
// ring page; only this differs.
#pragma once
#include <cstddef>
#include <expected>
#include <span>
#include <string>

namespace kxen::xenstore {

enum class TransportError {
    closed,        // the peer went away
    bad_ring,      // the peer corrupted the ring (indexes out of range)
    io,            // the host call failed
};

using IoResult = std::expected<std::size_t, TransportError>;

// Xen's ring "error" field values (io/xs_wire.h XENSTORE_ERROR_*), reported to a guest whose
// connection we stop serving.
enum class ProtoError { comm = 1, ringidx = 2, proto = 3 };

class Transport {
public:
    virtual ~Transport() = default;

    // Copies what the peer sent into dst; 0 when nothing is pending now.
    virtual IoResult read(std::span<char> dst) = 0;
    // Takes as much of src as fits now; 0 when the peer is not reading.
    virtual IoResult write(std::span<char const> src) = 0;
    // After a batch of reads and writes: tell the peer (a ring notifies its event channel).
    virtual void kick() {}

    // The fd the event loop waits on: readable when there is something to do. -1: none.
    virtual int wait_fd() const = 0;
    // Wait for EPOLLOUT on wait_fd() while output is pending (sockets). A ring peer notifies
    // the event channel when it frees space instead.
    virtual bool poll_writable() const = 0;
    // The event loop saw wait_fd() ready (a ring consumes the event channel's notification).
    virtual void woken() {}
    // We stop serving this peer, and why (a ring sets the page's error field).
    virtual void fail(ProtoError) {}
    // Socket clients may be disconnected; a guest's ring stays, ignored, until release.
    virtual bool droppable() const = 0;
    virtual std::string describe() const = 0;
};

} // namespace kxen::xenstore
