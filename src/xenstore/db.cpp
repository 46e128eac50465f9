#include "xenstore/db.hpp"

namespace kxen::xenstore {

Transaction::Entry* Db::record(std::string_view path) {
    if (auto* e = tx_->find(path)) return e;
    if (limited() && tx_->size() + 1 > quotas_.transaction_nodes) {
        tx_->failed = true;   // Xen fails the whole transaction when it runs out of nodes
        return nullptr;
    }
    Transaction::Entry e;
    e.node = store_.share(path);
    e.base_generation = e.node ? e.node->generation : no_generation;
    if (e.node) e.old_perms = e.node->perms;
    return &tx_->add(path, std::move(e));
}

XsResult<Node const*> Db::get(std::string_view path) {
    if (!tx_) return store_.get(path);
    auto* e = record(path);
    if (!e) return xs_fail(XsErr::nospc);
    return e->node.get();
}

XsResult<void> Db::insert(std::string_view path, NodePtr node) {
    if (!tx_) {
        store_.put(path, std::move(node));
        return {};
    }
    auto* e = record(path);
    if (!e) return xs_fail(XsErr::nospc);
    if (e->node) tx_->add_owned(e->node->owner(), -1);
    tx_->add_owned(node->owner(), 1);
    node->generation = store_.next_generation();
    e->node = std::move(node);
    e->modified = true;
    return {};
}

XsResult<void> Db::erase(std::string_view path) {
    if (!tx_) {
        store_.erase(path);
        return {};
    }
    auto* e = record(path);
    if (!e) return xs_fail(XsErr::nospc);
    if (e->node) tx_->add_owned(e->node->owner(), -1);
    e->node.reset();
    e->modified = true;
    return {};
}

long Db::owned(DomId id) const {
    long n = store_.owned(id);
    if (tx_) n += tx_->owned_delta(id);
    return n;
}

void Db::fire(std::string_view path, bool exact, Perms const* perms, Perms const* old_perms) {
    if (!tx_) {
        firer_.fire(path, exact, perms, old_perms);
        return;
    }
    auto* e = tx_->find(path);
    if (!e) {   // cannot happen: a change always reads its node first
        tx_->failed = true;
        return;
    }
    // A non-exact event replaces an exact one, not the other way round (queue_watches()).
    e->exact = e->fire ? (e->exact && exact) : exact;
    e->fire = true;
}

} // namespace kxen::xenstore
