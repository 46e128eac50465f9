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
#include <vector>
#include <utility>
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
    enum class EventQueued { yes, duplicate, too_long, over_limit };
    // A watch event "path\0token\0". Not queued if an identical one is still queued (as Xen
    // does, except for special events), if it would not fit in a message, or if this
    // connection already holds max_events events or would hold more than max_bytes (out_memory()).
    EventQueued queue_event(std::string_view path, std::string_view token,
                            std::size_t max_events, std::size_t max_bytes);
    // Writes what the transport takes now; the error if the transport broke.
    std::expected<void, TransportError> flush();
    std::size_t out_bytes() const { return out_.size() - out_off_; }
    std::size_t outstanding() const { return replies_queued_; }   // replies not yet read
    std::size_t events_queued() const { return events_queued_; }
    // Memory held for output not yet taken by the peer: the buffer (its capacity, written
    // bytes not yet compacted included), and a conservative figure for each message's
    // bookkeeping and each entry of the duplicate-event index.
    std::size_t out_memory() const;
    // out_memory() once `bytes` more are queued.
    std::size_t out_memory_after(std::size_t bytes) const;
    // Bytes of buffers given back to the allocator since the last call.
    std::size_t take_released() { return std::exchange(released_, 0); }

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
    bool ready = false;         // on the server's list of connections to give another turn
    bool overflowed = false;    // went past its output limits: a socket client is dropped
    std::size_t debt = 0;       // event bytes its turns queued beyond their share (Server::pump)
    bool discarding = false;    // a ring's events are being discarded (logged once per spell)

private:
    // One message in out_, by absolute stream offsets (bytes queued since the connection began),
    // which stay valid when out_ drops its written prefix.
    struct Pending {
        std::uint64_t end;      // where it ends
        std::uint64_t key;      // an event's payload hash while it may be coalesced, else 0
        std::uint32_t len;      // its payload's length
        bool reply;
        std::uint64_t start() const { return end - len; }   // where its payload begins
    };
    // Queued events by payload hash: open addressing, linear probing, so that the check made
    // for every event of a fan-out is one cache line, not a node per entry.
    class EventIndex {
    public:
        struct Slot {
            std::uint64_t key = 0;     // 0: empty
            std::uint64_t start = 0;   // absolute offset of the event's payload
        };
        template <typename F> bool any(std::uint64_t key, F&& f) const {
            if (slots_.empty()) return false;
            for (std::size_t i = home(key); slots_[i].key; i = (i + 1) & mask())
                if (slots_[i].key == key && f(slots_[i].start)) return true;
            return false;
        }
        void insert(std::uint64_t key, std::uint64_t start);
        void erase(std::uint64_t key, std::uint64_t start);
        std::size_t size() const { return size_; }
        std::size_t bytes() const { return slots_.capacity() * sizeof(Slot); }
        void release() { std::vector<Slot>{}.swap(slots_); }

    private:
        std::size_t mask() const { return slots_.size() - 1; }
        // Keys are hashes with bit 0 set (0 marks an empty slot): place them by the others.
        std::size_t home(std::uint64_t key) const { return (key >> 1) & mask(); }
        void grow();
        std::vector<Slot> slots_;
        std::size_t size_ = 0;
    };
    // What one message costs beyond its bytes in out_: a deque slot, plus the allocator's and
    // the deque's map's share of the 512-byte block that holds it.
    static constexpr std::size_t pending_cost = sizeof(Pending) + 8;

    void written(std::size_t n);
    bool duplicate(std::uint64_t key, std::string_view payload) const;
    void unindex(Pending const& p);

    std::uint64_t serial_;
    std::unique_ptr<Transport> transport_;
    Identity who_;

    std::string in_;
    std::size_t in_off_ = 0;

    std::string out_;
    std::size_t out_off_ = 0;
    std::uint64_t base_ = 0;   // absolute offset of out_[0]
    std::deque<Pending> pending_;
    EventIndex queued_events_;
    std::size_t replies_queued_ = 0;
    std::size_t events_queued_ = 0;
    std::size_t pending_peak_ = 0;
    std::size_t released_ = 0;

    std::map<std::uint32_t, std::unique_ptr<Transaction>> transactions_;
    std::uint32_t next_tx_id_ = 1;
};

} // namespace kxen::xenstore
