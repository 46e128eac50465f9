// kxen::xenstore::Connection: one client (a socket peer, or a guest's ring): its identity,
// the bytes in and out, its open transactions. The server drives it; the transport moves
// its bytes.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include "xenstore/perms.hpp"
#include "xenstore/transaction.hpp"
#include "xenstore/transport.hpp"
#include "xenstore/wire.hpp"

namespace kxen::xenstore {

struct Domain;

class Connection {
public:
    Connection(std::uint64_t serial, std::unique_ptr<Transport> t, Identity who)
        : serial_{serial}, transport_{std::move(t)}, who_{who} {}

    std::uint64_t serial() const { return serial_; }
    Identity const& who() const { return who_; }
    Identity& who() { return who_; }
    Transport& transport() { return *transport_; }
    Transport const& transport() const { return *transport_; }
    std::string implicit_path() const { return domain_path(who_.id); }

    // ---- output, in order: replies and watch events ----
    void queue(MsgHeader const& hdr, std::string_view payload);
    // A watch event "path\0token\0". Dropped if an identical one is still queued (as Xen does,
    // except for special events), or if it would not fit in a message.
    void queue_event(std::string_view path, std::string_view token);
    // Writes what the transport takes now; the error if the transport broke.
    std::expected<void, TransportError> flush();
    std::size_t out_bytes() const { return out_.size() - out_off_; }
    std::size_t outstanding() const { return replies_queued_; }   // replies not yet read

    // ---- input ----
    std::string& in() { return in_; }
    std::size_t& in_off() { return in_off_; }

    // ---- transactions ----
    Transaction* transaction(std::uint32_t id);
    Transaction& start_transaction();
    void end_transaction(std::uint32_t id);
    void drop_transactions() { transactions_.clear(); }
    std::size_t transactions() const { return transactions_.size(); }

    Domain* domain = nullptr;   // a guest's connection: its domain entry
    bool dead = false;          // closed (socket) or ignored (ring): no more I/O
    bool listed = false;        // on the server's list of connections with output to write
    std::uint32_t io_mask = 0;  // what the event loop waits for now (the event loop's business)
    bool closing = false;       // flush what is queued, then close (after a protocol error)

private:
    struct Pending {
        std::size_t end;        // offset in out_ where this message ends
        bool reply;
        std::string event;      // the event's payload while it may be coalesced
    };
    void written(std::size_t n);

    std::uint64_t serial_;
    std::unique_ptr<Transport> transport_;
    Identity who_;

    std::string in_;
    std::size_t in_off_ = 0;

    std::string out_;
    std::size_t out_off_ = 0;
    std::deque<Pending> pending_;
    std::unordered_set<std::string> queued_events_;
    std::size_t replies_queued_ = 0;

    std::map<std::uint32_t, std::unique_ptr<Transaction>> transactions_;
    std::uint32_t next_tx_id_ = 1;
};

} // namespace kxen::xenstore
