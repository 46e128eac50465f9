// Test helpers for xenstore_test: an in-memory transport, a client that speaks the wire
// protocol to a Server without sockets, and a guest ring page in plain memory.
#pragma once
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include "xenstore/domain_port.hpp"
#include "xenstore/server.hpp"
#include "xenstore/transport.hpp"

namespace kxen::xenstore::test {

// Bytes between a test (the peer) and the server.
struct Pipe {
    std::string to_server;
    std::string from_server;
    bool closed = false;
    std::size_t write_limit = SIZE_MAX;   // how much one write() takes: slow readers
    std::size_t read_limit = SIZE_MAX;    // how much one read() gives: dribbling writers
};

class MemoryTransport final : public Transport {
public:
    explicit MemoryTransport(std::shared_ptr<Pipe> p) : pipe_{std::move(p)} {}
    IoResult read(std::span<char> dst) override;
    IoResult write(std::span<char const> src) override;
    int wait_fd() const override { return -1; }
    bool poll_writable() const override { return false; }
    bool droppable() const override { return true; }
    std::string describe() const override { return "memory"; }

private:
    std::shared_ptr<Pipe> pipe_;
};

struct Reply {
    std::uint32_t type = 0, req_id = 0, tx_id = 0;
    std::string body;
    bool ok() const { return type != XS_ERROR; }
    std::string error() const;   // "ENOENT", ... or "" if none
};

// NUL-terminated strings laid end to end: args("a", "b") == "a\0b\0".
template <typename... A> std::string args(A const&... a) {
    std::string s;
    ((s.append(std::string_view{a}), s.push_back('\0')), ...);
    return s;
}

// Splits a reply body at its NULs (the last, empty piece dropped).
std::vector<std::string> split(std::string_view body);

class Client {
public:
    explicit Client(Server& s, Identity who = Identity{0, true, {}});

    // Sends one request and runs the server until its reply arrives; watch events that come
    // first are kept for events().
    Reply call(std::uint32_t type, std::string_view payload, std::uint32_t tx = 0);
    void send_raw(std::string_view bytes);   // anything; then run()
    void run();                              // let the server work
    std::vector<Reply> replies();            // everything parsed so far (events included)

    Reply read(std::string_view path, std::uint32_t tx = 0) { return call(XS_READ, args(path), tx); }
    Reply write(std::string_view path, std::string_view value, std::uint32_t tx = 0) {
        std::string p{path};
        p.push_back('\0');
        p.append(value);
        return call(XS_WRITE, p, tx);
    }
    Reply mkdir(std::string_view path, std::uint32_t tx = 0) { return call(XS_MKDIR, args(path), tx); }
    Reply rm(std::string_view path, std::uint32_t tx = 0) { return call(XS_RM, args(path), tx); }
    Reply dir(std::string_view path, std::uint32_t tx = 0) { return call(XS_DIRECTORY, args(path), tx); }
    Reply get_perms(std::string_view path) { return call(XS_GET_PERMS, args(path)); }
    template <typename... P> Reply set_perms(std::string_view path, P const&... p) {
        return call(XS_SET_PERMS, args(path, p...));
    }
    Reply watch(std::string_view path, std::string_view token) { return call(XS_WATCH, args(path, token)); }
    Reply unwatch(std::string_view path, std::string_view token) { return call(XS_UNWATCH, args(path, token)); }
    std::uint32_t start();   // a transaction's id (0 on failure)
    Reply end(std::uint32_t tx, bool commit) { return call(XS_TRANSACTION_END, args(commit ? "T" : "F"), tx); }

    // Watch events received so far, as (path, token), and forget them.
    std::vector<std::pair<std::string, std::string>> events();

    Connection* conn() { return server_.find(serial_); }   // null once the server dropped it
    std::uint64_t serial() const { return serial_; }
    Pipe& pipe() { return *pipe_; }

private:
    void parse();
    Server& server_;
    std::shared_ptr<Pipe> pipe_;
    std::uint64_t serial_;
    std::uint32_t next_req_ = 1;
    std::deque<Reply> replies_;
    std::vector<std::pair<std::string, std::string>> events_;
};

// A guest's ring page in plain memory, with the guest's side of the protocol.
class MemoryPort final : public DomainPort {
public:
    struct Shared {
        xenstore_domain_interface page{};
        int notifications = 0;
    };
    explicit MemoryPort(std::shared_ptr<Shared> s) : s_{std::move(s)} {}
    xenstore_domain_interface* interface() override { return &s_->page; }
    void notify() override { ++s_->notifications; }
    int event_fd() const override { return -1; }
    void clear_event() override {}

private:
    std::shared_ptr<Shared> s_;
};

// The guest's end of a ring: what a frontend's xenbus driver does.
class Guest {
public:
    explicit Guest(std::shared_ptr<MemoryPort::Shared> s) : s_{std::move(s)} {}
    // Puts as much of bytes into req[] as fits; returns how much.
    std::size_t put(std::string_view bytes);
    // Takes everything from rsp[].
    std::string take();
    xenstore_domain_interface& page() { return s_->page; }

private:
    std::shared_ptr<MemoryPort::Shared> s_;
};

std::string request(std::uint32_t type, std::uint32_t req_id, std::uint32_t tx,
                    std::string_view payload);
// Parses whole messages off the front of bytes.
std::vector<Reply> parse_messages(std::string& bytes);

// A factory that hands out in-memory pages, remembering them by domid.
struct Ports {
    std::map<DomId, std::shared_ptr<MemoryPort::Shared>> pages;
    DomainPortFactory factory();
};

} // namespace kxen::xenstore::test
