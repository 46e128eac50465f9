// kxen::xenstore::Transaction: an overlay over the store (Xen's semantics, tools/xenstored/
// transaction.c). The first access to a path records the generation the store had for it
// then (or "absent") and keeps the node as the transaction sees it; later accesses see only
// the overlay. Commit fails with EAGAIN if any accessed path has changed in the store since
// its first access; otherwise the modified nodes replace the store's, and the watch events
// the transaction's changes caused fire then.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include "xenstore/errors.hpp"
#include "xenstore/node.hpp"

namespace kxen::xenstore {

class Store;
class WatchFirer;

class Transaction {
public:
    struct Entry {
        NodePtr node;                       // as the transaction sees it; null: absent
        std::uint64_t base_generation = no_generation;   // the store's, at first access
        std::optional<Perms> old_perms;     // ACL at first access (for watch permission)
        bool modified = false;
        bool fire = false;                  // a watch event is due at commit
        bool exact = true;                  // ... for watches on exactly this path only
    };

    explicit Transaction(std::uint32_t id) : id_{id} {}
    std::uint32_t id() const { return id_; }

    Entry* find(std::string_view path);
    Entry& add(std::string_view path, Entry e);
    std::size_t size() const { return entries_.size(); }

    // The number of nodes each domain would own more (or fewer) after commit.
    long owned_delta(DomId id) const;
    void add_owned(DomId id, long n) { owned_delta_[id] += n; }

    // A failure inside the transaction that could not be undone (Xen's fail_transaction()):
    // the commit must fail.
    bool failed = false;

    // Commit into the store: EAGAIN on a conflict (nothing changes then).
    XsResult<void> commit(Store& store, WatchFirer& watches);

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::uint32_t id_;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries_;
    std::vector<std::string const*> order_;   // first-access order, for a stable commit
    std::unordered_map<DomId, long> owned_delta_;
};

} // namespace kxen::xenstore
