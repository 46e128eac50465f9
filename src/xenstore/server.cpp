#include "xenstore/server.hpp"
#include <algorithm>
#include <array>
#include <utility>
#include <fmt/format.h>
#include "common/log.hpp"
#include "xenstore/ops.hpp"
#include "xenstore/ring_transport.hpp"

namespace kxen::xenstore {
namespace {

constexpr unsigned flag_notid = 1;   // the transaction id is ignored
constexpr unsigned flag_priv = 2;    // privileged callers only

struct Row {
    Handler handler = nullptr;
    unsigned flags = 0;
};

constexpr auto table = [] {
    std::array<Row, XS_TYPE_COUNT> t{};
    t[XS_CONTROL] = {ops::control, flag_priv};
    t[XS_DIRECTORY] = {ops::directory, 0};
    t[XS_READ] = {ops::read, 0};
    t[XS_GET_PERMS] = {ops::get_perms, 0};
    t[XS_WATCH] = {ops::watch, flag_notid};
    t[XS_UNWATCH] = {ops::unwatch, flag_notid};
    t[XS_TRANSACTION_START] = {ops::transaction_start, 0};
    t[XS_TRANSACTION_END] = {ops::transaction_end, 0};
    t[XS_INTRODUCE] = {ops::introduce, flag_priv};
    t[XS_RELEASE] = {ops::release, flag_priv};
    t[XS_GET_DOMAIN_PATH] = {ops::get_domain_path, 0};
    t[XS_WRITE] = {ops::write, 0};
    t[XS_MKDIR] = {ops::mkdir, 0};
    t[XS_RM] = {ops::rm, 0};
    t[XS_SET_PERMS] = {ops::set_perms, 0};
    t[XS_IS_DOMAIN_INTRODUCED] = {ops::is_domain_introduced, flag_priv};
    t[XS_RESUME] = {ops::resume, flag_priv};
    t[XS_SET_TARGET] = {ops::set_target, flag_priv};
    t[XS_RESET_WATCHES] = {ops::reset_watches, 0};
    t[XS_DIRECTORY_PART] = {ops::directory_part, 0};
    return t;
}();

constexpr std::size_t socket_read_chunk = 16 * 1024;
// An input buffer bigger than this is given back once it has been consumed.
constexpr std::size_t keep_input = 2 * socket_read_chunk;

} // namespace

Server::Server(Config cfg, DomainPortFactory factory)
    : cfg_{std::move(cfg)}, factory_{factory ? std::move(factory) : no_domain_ports()} {}

Server::~Server() {
    store_.set_listener(nullptr);
    for (auto& [serial, c] : conns_) watches_.remove_all(*c);
}

void Server::set_sink(StateSink* s) {
    sink_ = s;
    store_.set_listener(s);
}

Connection& Server::connect(std::unique_ptr<Transport> t, Identity who) {
    auto serial = next_serial_++;
    auto& c = *conns_.emplace(serial, std::make_unique<Connection>(serial, std::move(t), who))
                   .first->second;
    if (c.transport().droppable()) ++sockets_;
    if (hooks_) hooks_->added(c);
    return c;
}

Connection* Server::find(std::uint64_t serial) {
    auto it = conns_.find(serial);
    return it == conns_.end() ? nullptr : it->second.get();
}

bool Server::congested(Connection const& c) const {
    // Whether the reply to one more request, as big as a reply gets, could take it past the
    // limit: so the limit holds exactly, whatever a buffer's growth adds at once.
    if (c.out_bytes() &&
        c.out_memory_after(header_size + XENSTORE_PAYLOAD_MAX) > cfg_.congested_bytes)
        return true;
    return !c.who().privileged && c.outstanding() >= cfg_.quotas.outstanding;
}

bool Server::wants_read(Connection const& c) const {
    return !c.dead && !c.closing && !c.debt && !congested(c);
}

bool Server::wants_write(Connection const& c) const {
    return !c.dead && c.out_bytes() > 0;
}

void Server::note_output(Connection& c) {
    if (c.listed) return;
    c.listed = true;
    listed_.push_back(c.serial());
}

void Server::service(Connection& c) {
    if (c.dead) return;
    c.transport().woken();
    pump(c);
}

bool Server::turn_over(Turn const& t) const {
    return t.requests >= cfg_.turn_requests ||
           event_bytes_ - t.event_bytes_at_start >= cfg_.turn_bytes;
}

void Server::again(Connection& c) {
    if (c.ready) return;
    c.ready = true;
    ready_.push_back(c.serial());
}

// One turn of c: its requests up to the turn's budget, reading more as they run out, then
// its output. Work left over waits for the next round, after every other connection's turn.
void Server::pump(Connection& c) {
    Turn turn{0, event_bytes_};
    // A connection still paying for an earlier turn's fan-out only has its output written.
    while (!c.debt) {
        process_input(c, turn);
        if (c.dead) return;
        if (c.closing || congested(c)) break;
        if (turn_over(turn)) {
            // Requests may be left in in() or in the transport, which no fd may announce
            // again (a ring's event was consumed; a socket's bytes were read).
            again(c);
            break;
        }
        auto& in = c.in();
        std::size_t have = in.size() - c.in_off();
        std::size_t want = c.transport().droppable() ? socket_read_chunk
                                                    : header_size + XENSTORE_PAYLOAD_MAX;
        if (have >= want) break;   // a partial message as long as a whole one: cannot happen
        // resize_and_overwrite: the bytes read need no zeroing first (16 KiB per read).
        // (GCC 12's passes the op a wrong size when it reallocates: old is taken beforehand.)
        IoResult n{0};
        std::size_t const old = in.size();
        in.resize_and_overwrite(old + want, [&](char* p, std::size_t) {
            n = c.transport().read({p + old, want});
            return old + (n ? *n : 0);
        });
        if (!n) {
            broken(c, n.error(), "read");
            return;
        }
        if (!*n) break;
    }
    // Deficit round robin: a turn whose requests queued more events than a turn's worth
    // costs the turns after it, one turn's worth each (see flush()), so that a connection
    // whose every write fans out to thousands of watchers gets its share of the work and no
    // more, however few requests that share is.
    if (std::size_t spent = event_bytes_ - turn.event_bytes_at_start; spent > cfg_.turn_bytes) {
        if (!c.debt) indebted_.push_back(c.serial());
        c.debt += spent - cfg_.turn_bytes;
    }
    // Replies go out as soon as the state they report is saved.
    if (c.out_bytes()) {
        if (sink_) sink_->flush();
        if (auto w = c.flush(); !w) {
            broken(c, w.error(), "write");
            return;
        }
    }
    after_io(c);
}

void Server::after_io(Connection& c) {
    if (c.dead) return;
    c.transport().kick();
    if (c.closing && c.out_bytes() == 0) {
        drop(c, ProtoError::proto, "protocol error");
        return;
    }
    // Output the peer did not take waits for it to make room: EPOLLOUT for a socket, the
    // guest's notification for a ring. Listing it again would spin the event loop.
    if (c.overflowed) note_output(c);
    freed_ += c.take_released();
    if (hooks_) hooks_->update(c);
}

void Server::process_input(Connection& c, Turn& turn) {
    auto& in = c.in();
    auto& off = c.in_off();
    while (!c.dead && !c.closing && !congested(c) && !turn_over(turn)) {
        std::size_t avail = in.size() - off;
        if (avail < header_size) break;
        MsgHeader hdr = decode_header(in.data() + off);
        if (hdr.len > XENSTORE_PAYLOAD_MAX) {
            log::warn("xenstore: {}: request of {} bytes (max {})", c.transport().describe(),
                      hdr.len, XENSTORE_PAYLOAD_MAX);
            if (c.transport().droppable()) {
                // Tell the socket client why, then hang up: the stream cannot be trusted.
                MsgHeader err = hdr;
                err.type = XS_ERROR;
                err.len = 0;
                auto name = xs_err_name(XsErr::e2big);
                std::string payload{name};
                payload.push_back('\0');
                c.queue(err, payload);
                note_output(c);
                c.closing = true;
            } else {
                drop(c, ProtoError::proto, "payload too long");
            }
            break;
        }
        if (avail < header_size + hdr.len) break;
        std::string_view body{in.data() + off + header_size, hdr.len};
        off += header_size + hdr.len;
        process(c, hdr, body);   // does not touch `in`
        ++turn.requests;
    }
    if (c.dead) return;
    if (off == in.size()) {
        off = 0;
        if (in.capacity() > keep_input) {
            freed_ += in.capacity();
            std::string{}.swap(in);
        } else {
            in.clear();
        }
    } else if (off > keep_input) {
        in.erase(0, off);
        off = 0;
    }
}

void Server::process(Connection& c, MsgHeader const& hdr, std::string_view body) {
    Request req{*this, c, nullptr, hdr, body};
    if (hdr.type >= table.size() || !table[hdr.type].handler) {
        req.error(XsErr::nosys);
        return;
    }
    Row const& row = table[hdr.type];
    if ((row.flags & flag_priv) && !c.who().privileged) {
        req.error(XsErr::acces);
        return;
    }
    if (!(row.flags & flag_notid) && hdr.tx_id != 0) {
        req.tx = c.transaction(hdr.tx_id);
        if (!req.tx) {
            req.error(XsErr::noent);
            return;
        }
    }
    if (auto r = row.handler(req); !r) req.error(r.error());
}

bool Server::permitted(Connection const& c, std::string_view path, Perms const* perms,
                       Perms const* old_perms) const {
    // Xen's watch_permitted(): the node (before or after the change) or its parent must be
    // readable by the watcher.
    if (old_perms && (perm_for(c.who(), *old_perms) & XS_PERM_READ)) return true;
    if (!perms) {
        auto const* n = store_.get(path);
        if (!n) return false;
        perms = &n->perms;
    }
    if (perm_for(c.who(), *perms) & XS_PERM_READ) return true;
    auto const* parent = store_.get(parent_of(path));
    return parent && (perm_for(c.who(), parent->perms) & XS_PERM_READ);
}

void Server::fire(std::string_view path, bool exact, Perms const* perms,
                  Perms const* old_perms) {
    watches_.for_matches(path, exact, [&](Watch const& w) {
        Connection& c = *w.conn;
        if (c.dead) return;
        if (!c.who().privileged && !permitted(c, path, perms, old_perms)) return;
        std::string_view ev = path.size() > w.prefix_len ? path.substr(w.prefix_len) : path;
        queue_event(c, ev, w.token);
    });
}

void Server::queue_event(Connection& c, std::string_view path, std::string_view token) {
    if (c.dead || c.overflowed) return;
    switch (c.queue_event(path, token, cfg_.max_watch_events, cfg_.max_output_bytes)) {
    case Connection::EventQueued::yes:
        c.discarding = false;
        event_bytes_ += header_size + path.size() + token.size() + 2;
        break;
    case Connection::EventQueued::over_limit:
        if (c.transport().droppable()) {
            // Dropped once this round is over: not here, in the middle of a fan-out that walks
            // the watch list that dropping edits. Until then it gets nothing more.
            c.overflowed = true;
        } else if (!c.discarding) {
            // A guest's ring cannot be hung up on; like Xen's xenstored past a domain's memory
            // quota, its events are lost.
            c.discarding = true;
            log::warn("xenstore: {}: {} watch events unread ({} bytes held): discarding more",
                      c.transport().describe(), c.events_queued(), c.out_memory());
        }
        break;
    case Connection::EventQueued::duplicate:
    case Connection::EventQueued::too_long: break;
    }
    note_output(c);
}

void Server::flush() {
    // A round has passed: each indebted connection pays one turn's worth.
    std::erase_if(indebted_, [&](std::uint64_t serial) {
        Connection* c = find(serial);
        if (!c || c->dead) return true;
        c->debt -= std::min(c->debt, cfg_.turn_bytes);
        if (c->debt) return false;
        again(*c);   // it may have requests buffered
        if (hooks_) hooks_->update(*c);
        return true;
    });
    for (auto serial : std::exchange(ready_, {})) {
        Connection* c = find(serial);
        if (!c) continue;
        c->ready = false;
        if (!c->dead) pump(*c);
    }
    // Pumping a connection that was congested can queue output for others: go again, a few
    // times at most (what is left is written in the next round).
    for (int pass = 0; pass < 4 && !listed_.empty(); ++pass) flush_listed();
    for (auto serial : std::exchange(doomed_, {})) {
        auto it = conns_.find(serial);
        if (it != conns_.end()) conns_.erase(it);
    }
}

void Server::flush_listed() {
    if (sink_) sink_->flush();
    for (auto serial : std::exchange(listed_, {})) {
        Connection* c = find(serial);
        if (!c) continue;
        c->listed = false;
        if (c->dead) continue;
        if (c->overflowed) {
            drop(*c, ProtoError::comm,
                 fmt::format("not reading its output: {} watch events, {} bytes held",
                             c->events_queued(), c->out_memory()));
            continue;
        }
        bool was_congested = congested(*c);
        if (auto w = c->flush(); !w) {
            broken(*c, w.error(), "write");
            continue;
        }
        if (was_congested && !congested(*c)) {
            pump(*c);   // it may have requests waiting
        } else {
            after_io(*c);
        }
    }
}

void Server::drop(Connection& c, ProtoError why, std::string_view reason) {
    if (c.dead) return;
    if (why == ProtoError::comm && reason == "closed")
        log::debug("xenstore: {}: closed", c.transport().describe());
    else
        log::info("xenstore: {}: dropped ({})", c.transport().describe(), reason);
    c.dead = true;
    watches_.remove_all(c);
    c.drop_transactions();
    if (c.domain) {
        // A guest's connection stays (ignored) until the domain is released, as in Xen.
        c.transport().fail(why);
        if (sink_) sink_->watches_cleared(c.who().id);
        if (hooks_) hooks_->update(c);
        return;
    }
    destroy(c);
}

void Server::broken(Connection& c, TransportError e, std::string_view op) {
    switch (e) {
    case TransportError::closed: drop(c, ProtoError::comm, "closed"); break;
    case TransportError::bad_ring:
        drop(c, ProtoError::ringidx, fmt::format("{}: ring indexes out of range", op));
        break;
    case TransportError::io: drop(c, ProtoError::comm, fmt::format("{} failed", op)); break;
    }
}

void Server::destroy(Connection& c) {
    c.dead = true;
    watches_.remove_all(c);
    if (c.transport().droppable()) --sockets_;
    freed_ += c.out_memory() + c.in().capacity() + c.take_released();
    if (hooks_) hooks_->removed(c);
    doomed_.push_back(c.serial());
}

} // namespace kxen::xenstore
