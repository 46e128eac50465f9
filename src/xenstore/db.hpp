// kxen::xenstore::Db: the store as one request sees it: directly, or through the request's
// transaction. Reads inside a transaction are recorded (for conflict detection) and counted
// against the transaction-nodes quota; writes go to the overlay; watch events are queued
// until commit. Outside a transaction everything goes straight to the store.
#pragma once
#include <memory>
#include <string_view>
#include "xenstore/errors.hpp"
#include "xenstore/perms.hpp"
#include "xenstore/quota.hpp"
#include "xenstore/store.hpp"
#include "xenstore/transaction.hpp"
#include "xenstore/watch_firer.hpp"

namespace kxen::xenstore {

class Db {
public:
    Db(Store& store, Transaction* tx, Identity const& who, Quotas const& quotas,
       WatchFirer& firer)
        : store_{store}, tx_{tx}, who_{who}, quotas_{quotas}, firer_{firer} {}

    Identity const& who() const { return who_; }
    Quotas const& quotas() const { return quotas_; }
    bool limited() const { return !who_.privileged; }   // quotas apply

    // The node, or null if absent. Valid until the next change through this Db.
    XsResult<Node const*> get(std::string_view path);

    // Changes an existing node (get() it first) and gives it a new generation.
    template <typename F> XsResult<void> update(std::string_view path, F&& change) {
        if (!tx_) {
            store_.update(path, std::forward<F>(change));
            return {};
        }
        auto* e = tx_->find(path);
        if (!e || !e->node) return xs_fail(XsErr::noent);
        if (e->node.use_count() > 1) e->node = std::make_shared<Node>(*e->node);
        DomId before = e->node->owner();
        change(*e->node);
        e->node->generation = store_.next_generation();
        e->modified = true;
        if (e->node->owner() != before) tx_->add_owned(before, -1), tx_->add_owned(e->node->owner(), 1);
        return {};
    }
    XsResult<void> insert(std::string_view path, NodePtr node);   // a node that did not exist
    XsResult<void> erase(std::string_view path);                  // one node, not its children

    // Nodes `id` owns, counting this transaction's changes.
    long owned(DomId id) const;

    void fire(std::string_view path, bool exact, Perms const* perms, Perms const* old_perms);

private:
    Transaction::Entry* record(std::string_view path);   // first access in a transaction

    Store& store_;
    Transaction* tx_;
    Identity const& who_;
    Quotas const& quotas_;
    WatchFirer& firer_;
};

} // namespace kxen::xenstore
