#include "xenstore/transaction.hpp"
#include <algorithm>
#include "xenstore/store.hpp"
#include "xenstore/watch_firer.hpp"

namespace kxen::xenstore {

Transaction::Entry* Transaction::find(std::string_view path) {
    auto it = entries_.find(path);
    return it == entries_.end() ? nullptr : &it->second;
}

Transaction::Entry& Transaction::add(std::string_view path, Entry e) {
    auto [it, fresh] = entries_.emplace(std::string{path}, std::move(e));
    if (fresh) order_.push_back(&it->first);   // keys of an unordered_map do not move
    return it->second;
}

long Transaction::owned_delta(DomId id) const {
    auto it = owned_delta_.find(id);
    return it == owned_delta_.end() ? 0 : it->second;
}

XsResult<void> Transaction::commit(Store& store, WatchFirer& watches) {
    if (failed) return xs_fail(XsErr::nomem);   // what Xen answers for a failed transaction
    for (auto const& [path, e] : entries_)
        if (store.generation_of(path) != e.base_generation) return xs_fail(XsErr::again);

    // Parents before children (and removals children first), so that a journal replayed in
    // order never holds a node whose parent is missing.
    std::vector<std::string const*> changed;
    for (auto const* path : order_)
        if (entries_.find(*path)->second.modified) changed.push_back(path);
    auto depth = [](std::string const* p) { return std::count(p->begin(), p->end(), '/'); };
    std::stable_sort(changed.begin(), changed.end(),
                     [&](auto* a, auto* b) { return depth(a) < depth(b); });
    std::vector<std::string const*> removed;
    for (auto it = changed.rbegin(); it != changed.rend(); ++it)
        if (!entries_.find(**it)->second.node) removed.push_back(*it);
    for (auto const* path : changed) {
        Entry& e = entries_.find(*path)->second;
        if (e.node) store.put(*path, std::move(e.node));
    }
    for (auto const* path : removed) store.erase(*path);
    for (auto const* path : order_) {
        Entry const& e = entries_.find(*path)->second;
        if (e.fire) watches.fire(*path, e.exact, nullptr, e.old_perms ? &*e.old_perms : nullptr);
    }
    return {};
}

} // namespace kxen::xenstore
