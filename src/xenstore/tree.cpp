#include "xenstore/tree.hpp"
#include <algorithm>
#include <vector>
#include "xenstore/path.hpp"

namespace kxen::xenstore {
namespace {

// Xen's errno_from_parents(): hide the node's state from callers who may not see its parent.
XsErr from_parents(Db& db, std::string_view name, XsErr err, unsigned perm) {
    if (err == XsErr::nomem || err == XsErr::nospc) return err;
    std::string_view p = name;
    for (;;) {
        if (p == "/") return XsErr::acces;   // cannot happen: "/" always exists
        p = parent_of(p);
        auto node = db.get(p);
        if (!node) return node.error();
        if (*node) return (perm_for(db.who(), (*node)->perms) & perm) ? err : XsErr::acces;
    }
}

bool too_big(Db const& db, Node const& n) {
    return db.limited() && n.acc_size() > db.quotas().node_size;
}

// Creates name and its missing ancestors (Xen's construct_node() + create_node()).
XsResult<Node const*> create_node(Db& db, std::string const& name, std::string_view value) {
    std::vector<std::string_view> missing{name};   // deepest first
    std::string_view p = parent_of(name);
    Node const* top = nullptr;                       // the existing ancestor
    for (;;) {
        auto node = db.get(p);
        if (!node) return std::unexpected(node.error());
        if (*node) { top = *node; break; }
        if (p == "/") return xs_fail(XsErr::noent);
        missing.push_back(p);
        p = parent_of(p);
    }
    if (db.limited() && db.owned(db.who().id) + static_cast<long>(missing.size()) >
                            static_cast<long>(db.quotas().nodes))
        return xs_fail(XsErr::nospc);

    Perms perms = top->perms;   // inherited; unprivileged domains own what they create
    if (!db.who().privileged) perms[0].id = db.who().id;

    std::string_view first = basename_of(missing.back());
    if (db.limited() && top->acc_size() + first.size() + 1 > db.quotas().node_size)
        return xs_fail(XsErr::nospc);
    if (auto r = db.update(p, [&](Node& n) { n.children.emplace_back(first); }); !r)
        return std::unexpected(r.error());

    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
        auto n = std::make_shared<Node>();
        n->perms = perms;
        if (std::next(it) != missing.rend()) {
            n->children.emplace_back(basename_of(*std::next(it)));
        } else {
            n->value.assign(value);
        }
        if (too_big(db, *n)) return xs_fail(XsErr::nospc);
        if (auto r = db.insert(*it, std::move(n)); !r) return std::unexpected(r.error());
    }
    return db.get(name);
}

} // namespace

XsResult<Node const*> get_checked(Db& db, std::string const& name, unsigned perm) {
    auto node = db.get(name);
    if (!node) return node;
    XsErr err = XsErr::noent;
    if (*node) {
        if ((perm_for(db.who(), (*node)->perms) & perm) == perm) return node;
        err = XsErr::acces;
    }
    return xs_fail(from_parents(db, name, err, perm));
}

XsResult<void> write_node(Db& db, std::string const& name, std::string_view value) {
    auto node = get_checked(db, name, XS_PERM_WRITE);
    Node const* written = nullptr;
    if (node) {
        if (db.limited() && (*node)->acc_size() - (*node)->value.size() + value.size() >
                                db.quotas().node_size)
            return xs_fail(XsErr::nospc);
        if (auto r = db.update(name, [&](Node& n) { n.value.assign(value); }); !r) return r;
        written = *db.get(name);
    } else {
        if (node.error() != XsErr::noent) return std::unexpected(node.error());
        auto created = create_node(db, name, value);
        if (!created) return std::unexpected(created.error());
        written = *created;
    }
    db.fire(name, false, &written->perms, nullptr);
    return {};
}

XsResult<void> mkdir_node(Db& db, std::string const& name) {
    auto node = get_checked(db, name, XS_PERM_WRITE);
    if (node) return {};
    if (node.error() != XsErr::noent) return std::unexpected(node.error());
    auto created = create_node(db, name, {});
    if (!created) return std::unexpected(created.error());
    db.fire(name, false, &(*created)->perms, nullptr);
    return {};
}

namespace {

// Post-order: children go (and fire, for watches on exactly them) before their parent.
XsResult<void> rm_walk(Db& db, std::string const& path, std::string_view root) {
    auto node = db.get(path);
    if (!node) return std::unexpected(node.error());
    if (!*node) return {};   // a children entry without node: nothing to remove
    std::vector<std::string> kids = (*node)->children;
    for (auto const& k : kids)
        if (auto r = rm_walk(db, child_path(path, k), root); !r) return r;
    Perms perms = (*db.get(path))->perms;
    if (auto r = db.erase(path); !r) return r;
    db.fire(path, path != root, &perms, nullptr);
    return {};
}

XsResult<void> rm_unchecked(Db& db, std::string const& name) {
    std::string_view parent = parent_of(name);
    auto pnode = db.get(parent);
    if (!pnode) return std::unexpected(pnode.error());
    if (!*pnode) return xs_fail(XsErr::inval);
    if (auto r = rm_walk(db, name, name); !r) return r;
    std::string_view base = basename_of(name);
    return db.update(parent, [&](Node& n) {
        auto it = std::find(n.children.begin(), n.children.end(), base);
        if (it != n.children.end()) n.children.erase(it);
    });
}

} // namespace

XsResult<void> rm_node(Db& db, std::string const& name) {
    auto node = get_checked(db, name, XS_PERM_WRITE);
    if (!node) {
        if (node.error() != XsErr::noent) return std::unexpected(node.error());
        auto parent = db.get(parent_of(name));
        if (!parent) return std::unexpected(parent.error());
        if (*parent) return {};   // already gone: fine, if the parent is there
        return xs_fail(XsErr::noent);
    }
    if (name == "/") return xs_fail(XsErr::inval);
    return rm_unchecked(db, name);
}

void rm_subtree(Db& db, std::string const& name) {
    if (name != "/") (void)rm_unchecked(db, name);
}

XsResult<void> set_node_perms(Db& db, std::string const& name, Perms perms) {
    auto node = get_checked(db, name, XS_PERM_WRITE | XS_PERM_OWNER);
    if (!node) return std::unexpected(node.error());
    if (!db.who().privileged && perms[0].id != (*node)->owner()) return xs_fail(XsErr::perm);
    Perms old = (*node)->perms;
    if (db.limited() && (*node)->acc_size() + 8 * perms.size() - 8 * old.size() >
                            db.quotas().node_size)
        return xs_fail(XsErr::nospc);
    if (auto r = db.update(name, [&](Node& n) { n.perms = std::move(perms); }); !r) return r;
    db.fire(name, false, &(*db.get(name))->perms, &old);
    return {};
}

std::string children_list(Node const& node) {
    std::string s;
    s.reserve(node.children_bytes());
    for (auto const& c : node.children) s.append(c).push_back('\0');
    return s;
}

} // namespace kxen::xenstore
