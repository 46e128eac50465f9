// Domain requests: XS_INTRODUCE, XS_RELEASE, XS_GET_DOMAIN_PATH, XS_IS_DOMAIN_INTRODUCED,
// XS_RESUME, XS_SET_TARGET (Xen's domain.c), and the server's domain bookkeeping behind them.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <stdint.h>   // xen/xen.h uses the global uint64_t
#include <xen/xen.h>
#include "common/log.hpp"
#include "xenstore/ops.hpp"
#include "xenstore/ring_transport.hpp"
#include "xenstore/tree.hpp"

namespace kxen::xenstore {

namespace ops {
namespace {

// Xen's onearg_domain(): an introduced domain other than dom0.
XsResult<Domain*> domain_arg(Request& r) {
    auto arg = one_arg(r.body);
    if (!arg) return xs_fail(XsErr::inval);
    DomId id = static_cast<DomId>(parse_ulong(*arg));
    if (id == 0) return xs_fail(XsErr::inval);
    Domain* d = r.server.domains().find(id);
    if (!d) return xs_fail(XsErr::noent);
    return d;
}

} // namespace

// domid\0 mfn\0 port\0 (the mfn of the guest's ring page, its xenstore event channel)
XsResult<void> introduce(Request& r) {
    std::array<std::string_view, 3> vec;
    if (get_strings(r.body, vec) < 3) return xs_fail(XsErr::inval);
    auto id = static_cast<DomId>(parse_ulong(vec[0]));
    std::uint64_t mfn = std::strtoull(std::string{vec[1]}.c_str(), nullptr, 0);
    auto port = static_cast<std::uint32_t>(parse_ulong(vec[2]));
    if (port == 0 || id == 0 || id >= DOMID_FIRST_RESERVED) return xs_fail(XsErr::inval);
    if (auto i = r.server.introduce(id, mfn, port, true); !i) return i;
    r.ack();
    return {};
}

XsResult<void> release(Request& r) {
    auto d = domain_arg(r);
    if (!d) return std::unexpected(d.error());
    if (auto rel = r.server.release((*d)->id); !rel) return rel;
    r.ack();
    return {};
}

XsResult<void> get_domain_path(Request& r) {
    auto arg = one_arg(r.body);
    if (!arg) return xs_fail(XsErr::inval);
    auto path = domain_path(static_cast<DomId>(parse_ulong(*arg)));
    path.push_back('\0');
    r.reply(path);
    return {};
}

XsResult<void> is_domain_introduced(Request& r) {
    auto arg = one_arg(r.body);
    if (!arg) return xs_fail(XsErr::inval);
    auto id = static_cast<DomId>(parse_ulong(*arg));
    bool yes = id == DOMID_SELF || id == 0 || r.server.domains().find(id) != nullptr;
    r.reply(yes ? std::string_view{"T", 2} : std::string_view{"F", 2});
    return {};
}

XsResult<void> resume(Request& r) {
    auto d = domain_arg(r);
    if (!d) return std::unexpected(d.error());
    (*d)->shutdown = false;
    r.ack();
    return {};
}

// domid\0 target\0: domid may act for target (a stub domain for its guest)
XsResult<void> set_target(Request& r) {
    std::array<std::string_view, 2> vec;
    if (get_strings(r.body, vec) < 2) return xs_fail(XsErr::inval);
    auto id = static_cast<DomId>(parse_ulong(vec[0]));
    auto target = static_cast<DomId>(parse_ulong(vec[1]));
    if (auto s = r.server.set_target(id, target); !s) return s;
    r.ack();
    return {};
}

} // namespace ops

XsResult<void> Server::introduce(DomId id, std::uint64_t mfn, std::uint32_t port, bool fresh) {
    Domain* d = domains_.find(id);
    bool existed = d != nullptr;
    if (existed && d->conn) {
        // Re-introduction rebinds the channel and starts the connection afresh (Xen's
        // domain_conn_reset()): drop the old one, watches and transactions included.
        Connection* old = d->conn;
        d->conn = nullptr;
        old->domain = nullptr;
        if (sink_) sink_->watches_cleared(id);
        destroy(*old);
    }
    auto port_obj = factory_(id, mfn, port);
    if (!port_obj && port_obj.error() != XsErr::nosys) {
        log::warn("xenstore: domain {}: cannot attach its ring: {}", id, xs_err_name(port_obj.error()));
        if (!existed) return std::unexpected(port_obj.error());
    }
    if (!d) d = &domains_.add(id);
    d->mfn = mfn;
    d->port = port;
    if (port_obj) {
        auto ring = std::make_unique<RingTransport>(id, std::move(*port_obj));
        if (fresh) ring->reset();
        Identity who{id, id == cfg_.priv_domid, d->target};
        Connection& c = connect(std::move(ring), who);
        c.domain = d;
        d->conn = &c;
        pump(c);   // the guest may have written requests already (after a restart)
    } else if (!warned_nosys_ && port_obj.error() == XsErr::nosys) {
        warned_nosys_ = true;
        log::warn("xenstore: no hypervisor ring access yet: domains are introduced without "
                  "a ring connection");
    }
    if (sink_) sink_->domain_saved(*d);
    if (fresh && !existed) fire(introduce_domain_node, true, nullptr, nullptr);
    return {};
}

XsResult<void> Server::release(DomId id) {
    Domain* d = domains_.find(id);
    if (!d) return xs_fail(XsErr::noent);
    if (Connection* c = d->conn) {
        d->conn = nullptr;
        c->domain = nullptr;
        destroy(*c);   // its watches first: no events for its own nodes going away
    }
    domains_.remove(id);
    for (auto& [other, od] : domains_.all()) {
        if (od.target != id) continue;
        Domain* m = domains_.find(other);
        m->target.reset();
        if (m->conn) m->conn->who().target.reset();
        if (sink_) sink_->domain_saved(*m);
    }
    if (sink_) {
        sink_->watches_cleared(id);
        sink_->domain_released(id);
    }
    remove_domain_nodes(id);
    fire(release_domain_node, true, nullptr, nullptr);
    return {};
}

XsResult<void> Server::set_target(DomId id, DomId target) {
    Domain* d = domains_.find(id);
    if (!d || !domains_.find(target)) return xs_fail(XsErr::noent);
    d->target = target;
    if (d->conn) d->conn->who().target = target;
    if (sink_) sink_->domain_saved(*d);
    return {};
}

void Server::check_domains(std::vector<LiveDomain> const& alive) {
    auto live = [&](DomId id) {
        return std::find_if(alive.begin(), alive.end(), [&](LiveDomain const& l) { return l.id == id; });
    };
    auto dead = [&](DomId id) { return id != 0 && live(id) == alive.end(); };
    bool shut = false;
    for (auto const& l : alive)
        if (Domain* d = l.shutdown ? domains_.find(l.id) : nullptr; d && !d->shutdown) shut = d->shutdown = true;
    if (shut) fire(release_domain_node, true, nullptr, nullptr);
    std::vector<DomId> gone;
    for (auto const& [id, d] : domains_.all())
        if (dead(id)) gone.push_back(id);
    if (Node const* local = store_.get("/local/domain"))
        for (auto const& name : local->children) {
            char* end = nullptr;
            unsigned long id = std::strtoul(name.c_str(), &end, 10);
            if (!name.empty() && !*end && id < DOMID_FIRST_RESERVED && dead(static_cast<DomId>(id)) &&
                std::find(gone.begin(), gone.end(), id) == gone.end())
                gone.push_back(static_cast<DomId>(id));
        }
    if (gone.empty()) return;
    Identity dom0{0, true, {}};
    Db db{store_, nullptr, dom0, cfg_.quotas, *this};
    for (DomId id : gone) {
        log::info("xenstore: domain {} is gone: forgetting it", id);
        if (domains_.find(id)) (void)release(id);
        auto home = domain_path(id);
        if (Node const* vm = store_.get(home + "/vm"); vm && vm->value.starts_with("/vm/")) {
            std::string const vm_path = vm->value;
            if (store_.get(vm_path)) rm_subtree(db, vm_path);
        }
        if (store_.get(home)) rm_subtree(db, home);
        if (auto libxl = "/libxl/" + std::to_string(id); store_.get(libxl)) rm_subtree(db, libxl);
    }
}

void Server::restore_watch(DomId id, std::string path, std::string token,
                           std::uint32_t prefix_len) {
    Domain* d = domains_.find(id);
    if (!d || !d->conn) return;
    std::string event_path = path.substr(std::min<std::size_t>(prefix_len, path.size()));
    std::string event_token = token;
    if (!watches_.add(*d->conn, std::move(path), std::move(token), prefix_len)) return;
    // The daemon that died may have had events for it queued: fire once, as a new watch does,
    // and the guest re-reads what it watches (Xen's watchers must cope with spurious events).
    queue_event(*d->conn, event_path, event_token);
}

// Xen's domain_tree_remove(): a released domain's nodes go (firing watches), or with -K pass
// to dom0; ACL entries naming it go too, so that a later domain with the same id does not
// inherit its rights.
void Server::remove_domain_nodes(DomId id) {
    std::vector<std::string> owned, named;
    std::vector<std::string> stack{"/"};
    while (!stack.empty()) {
        std::string path = std::move(stack.back());
        stack.pop_back();
        Node const* n = store_.get(path);
        if (!n) continue;
        if (n->owner() == id) {
            owned.push_back(path);
            if (!cfg_.keep_orphans) continue;   // the whole subtree goes
        }
        for (std::size_t i = 1; i < n->perms.size(); ++i)
            if (n->perms[i].id == id) {
                named.push_back(path);
                break;
            }
        for (auto const& c : n->children) stack.push_back(child_path(path, c));
    }
    for (auto special : {introduce_domain_node, release_domain_node}) {
        Node const* n = store_.get(special);
        for (std::size_t i = 1; n && i < n->perms.size(); ++i)
            if (n->perms[i].id == id) {
                named.emplace_back(special);
                break;
            }
    }
    Identity dom0{0, true, {}};
    Db db{store_, nullptr, dom0, cfg_.quotas, *this};
    for (auto const& path : owned) {
        if (cfg_.keep_orphans) {
            store_.update(path, [&](Node& n) { n.perms[0].id = cfg_.priv_domid; });
        } else {
            rm_subtree(db, path);
        }
    }
    for (auto const& path : named) {
        if (!store_.get(path)) continue;
        store_.update(path, [&](Node& n) {
            auto named_id = [&](Perm const& p) { return p.id == id; };
            n.perms.erase(std::remove_if(n.perms.begin() + 1, n.perms.end(), named_id),
                          n.perms.end());
        });
    }
}

} // namespace kxen::xenstore
