// kxen::xenstore::Server: kxenstored without its event loop. It owns the store, the watches,
// the introduced domains and every connection, turns bytes from a transport into requests,
// dispatches them (ops_*.cpp) and queues replies and watch events. Single-threaded, like
// Xen's C xenstored: the event loop calls service() when a transport is ready and flush() at
// the end of each round.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>
#include "xenstore/connection.hpp"
#include "xenstore/domain_port.hpp"
#include "xenstore/domains.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/state_sink.hpp"
#include "xenstore/store.hpp"
#include "xenstore/watch.hpp"
#include "xenstore/watch_firer.hpp"

namespace kxen::xenstore {

struct Config {
    Quotas quotas;
    bool keep_orphans = false;        // -K: a released domain's nodes go to dom0, not away
    DomId priv_domid = 0;             // a domain with dom0's rights besides dom0
    // Per-connection limits on output the peer has not taken, every connection (dom0's
    // included) unless said; memory as Connection::out_memory() counts it. See README.md.
    std::size_t congested_bytes = 1u << 20;     // stop reading requests from it meanwhile
    std::size_t max_watch_events = 1024;        // events beyond: socket dropped, ring's discarded
    std::size_t max_output_bytes = 2560u << 10; // the same for memory
    // Socket clients at once; more are accepted and closed at once.
    std::size_t max_connections = 1024;
    // One connection's turn (one wake-up) ends after this many requests, or once its requests
    // have queued this many bytes of watch events (a request is never cut short); events
    // beyond that are paid for with later turns, this many bytes a round.
    std::size_t turn_requests = 32;
    std::size_t turn_bytes = 256u << 10;
};

// The event loop's side: which fds to wait on.
class IoHooks {
public:
    virtual ~IoHooks() = default;
    virtual void added(Connection& c) = 0;
    virtual void removed(Connection& c) = 0;   // just before the connection goes away
    virtual void update(Connection& c) = 0;    // wants_read()/wants_write() may have changed
};

class Server final : public WatchFirer {
public:
    explicit Server(Config cfg = {}, DomainPortFactory factory = no_domain_ports());
    ~Server() override;
    Server(Server const&) = delete;
    Server& operator=(Server const&) = delete;

    // A new client. Socket clients are dom0: Identity{0, true}.
    Connection& connect(std::unique_ptr<Transport> t, Identity who);
    // The transport woke up: read, process, write as much as can be done now.
    void service(Connection& c);
    // End of a round: save state, write queued output, close what must close.
    void flush();
    // Work is left for the next round even if no fd becomes ready.
    bool has_pending_work() const {
        return !listed_.empty() || !ready_.empty() || !indebted_.empty();
    }
    // Another socket client may connect (Config::max_connections).
    bool accepting() const { return sockets_ < cfg_.max_connections; }
    // Bytes of buffers freed since the last call (for the daemon to give memory back).
    std::size_t take_freed() { return std::exchange(freed_, 0); }

    bool wants_read(Connection const& c) const;
    bool wants_write(Connection const& c) const;

    // Stop serving c (socket: close; ring: ignore it until the domain is released).
    void drop(Connection& c, ProtoError why, std::string_view reason);

    // Domain bookkeeping (ops_domain.cpp). fresh: XS_INTRODUCE (fires @introduceDomain,
    // resets the ring); else a restart re-attaching a saved domain.
    XsResult<void> introduce(DomId id, std::uint64_t mfn, std::uint32_t port, bool fresh);
    XsResult<void> release(DomId id);
    XsResult<void> set_target(DomId id, DomId target);
    // Xen's domain_cleanup() on VIRQ_DOM_EXC, given the domains that exist (dom0 included).
    // An introduced domain that has shut down fires @releaseDomain once (libxl watches there
    // for a domain's death, to act on on_poweroff). One the hypervisor no longer has is
    // released, and every dead domain's tree the toolstack left (/local/domain/<id>, its
    // /vm/<uuid>, /libxl/<id>) is removed, as libxl's destroy does: a toolstack killed mid-way
    // never gets to.
    void check_domains(std::vector<LiveDomain> const& alive);

    // After a restart: a guest's watch, from saved state; it fires once.
    void restore_watch(DomId id, std::string path, std::string token, std::uint32_t prefix_len);

    void fire(std::string_view path, bool exact, Perms const* perms,
              Perms const* old_perms) override;

    Store& store() { return store_; }
    Watches& watches() { return watches_; }
    Domains& domains() { return domains_; }
    Config& config() { return cfg_; }
    StateSink* sink() { return sink_; }
    void set_hooks(IoHooks* h) { hooks_ = h; }
    void set_sink(StateSink* s);
    std::size_t connections() const { return conns_.size(); }
    Connection* find(std::uint64_t serial);
    template <typename F> void for_each_connection(F&& f) {
        for (auto& [serial, c] : conns_) f(*c);
    }
    // Queue output for c and put it on the list flush() writes.
    void note_output(Connection& c);
    // Queues a watch event for c within its limits; past them a socket client is dropped (at
    // the end of the round) and a guest's events are discarded.
    void queue_event(Connection& c, std::string_view path, std::string_view token);

private:
    void pump(Connection& c);
    void flush_listed();
    struct Turn {
        std::size_t requests = 0;
        std::size_t event_bytes_at_start = 0;
    };
    bool turn_over(Turn const& t) const;
    void process_input(Connection& c, Turn& t);
    void again(Connection& c);
    void process(Connection& c, MsgHeader const& hdr, std::string_view body);
    bool congested(Connection const& c) const;
    bool permitted(Connection const& c, std::string_view path, Perms const* perms,
                   Perms const* old_perms) const;
    void destroy(Connection& c);
    void broken(Connection& c, TransportError e, std::string_view op);
    void remove_domain_nodes(DomId id);
    void after_io(Connection& c);

    Config cfg_;
    DomainPortFactory factory_;
    Store store_;
    Watches watches_;
    Domains domains_;
    std::map<std::uint64_t, std::unique_ptr<Connection>> conns_;
    std::uint64_t next_serial_ = 1;
    std::vector<std::uint64_t> listed_;
    std::vector<std::uint64_t> doomed_;
    std::vector<std::uint64_t> ready_;    // turn ended with work left
    std::vector<std::uint64_t> indebted_; // Connection::debt > 0
    std::size_t sockets_ = 0;             // droppable connections
    std::size_t event_bytes_ = 0;         // watch events queued, ever (for turn budgets)
    std::size_t freed_ = 0;
    IoHooks* hooks_ = nullptr;
    StateSink* sink_ = nullptr;
    bool warned_nosys_ = false;
};

} // namespace kxen::xenstore
