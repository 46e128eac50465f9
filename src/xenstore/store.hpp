// kxen::xenstore::Store: the committed tree, as a flat map from absolute path to node (as
// Xen's xenstored keeps it); each node lists its children by name. The special nodes
// "@introduceDomain" and "@releaseDomain" live here too, outside the tree: only their ACLs
// matter (who may watch them). Every change goes through put/update/erase, which keep the
// per-domain node counts and tell the listener (persistence).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include "xenstore/node.hpp"

namespace kxen::xenstore {

class StoreListener {
public:
    virtual ~StoreListener() = default;
    virtual void node_written(std::string_view path, Node const& node) = 0;
    virtual void node_removed(std::string_view path) = 0;
};

inline constexpr std::string_view introduce_domain_node = "@introduceDomain";
inline constexpr std::string_view release_domain_node = "@releaseDomain";

class Store {
public:
    Store() { reset(); }

    // Back to what a fresh xenstored has: "/", "/tool", "/tool/xenstored" and the two special
    // nodes, all owned by dom0 with no access for others (Xen's setup_structure()).
    void reset();
    // Empty, not even "/" (loading saved state fills it, then repair()s it).
    void clear() { nodes_.clear(); owned_.clear(); }

    Node const* get(std::string_view path) const;
    NodePtr share(std::string_view path) const;           // null if absent
    std::uint64_t generation_of(std::string_view path) const;   // no_generation if absent

    // Creates or replaces the node (the parent's children list is the caller's business).
    void put(std::string_view path, NodePtr node);
    // Changes the node in place (a copy, if a transaction holds it) and gives it a new
    // generation. The path must exist.
    template <typename F> void update(std::string_view path, F&& change) {
        auto it = nodes_.find(path);
        NodePtr& p = it->second;
        if (p.use_count() > 1) p = std::make_shared<Node>(*p);
        DomId before = p->owner();
        change(*p);
        p->generation = next_generation();
        if (p->owner() != before) { uncount(before); count(p->owner()); }
        if (listener_) listener_->node_written(path, *p);
    }
    void erase(std::string_view path);

    std::uint64_t next_generation() { return ++generation_; }
    std::uint64_t generation() const { return generation_; }

    std::uint32_t owned(DomId id) const;     // nodes whose owner is id
    std::size_t size() const { return nodes_.size(); }
    void set_listener(StoreListener* l) { listener_ = l; }

    template <typename F> void for_each(F&& f) const {
        for (auto const& [path, node] : nodes_) f(std::string_view{path}, *node);
    }

    // After loading saved state: drop children entries without a node and nodes no parent
    // lists (Xen's check_store()), make sure "/" and the special nodes exist, recount owners.
    // Returns how many entries it fixed.
    std::size_t repair();

private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    void count(DomId id) { ++owned_[id]; }
    void uncount(DomId id);

    std::unordered_map<std::string, NodePtr, Hash, std::equal_to<>> nodes_;
    std::unordered_map<DomId, std::uint32_t> owned_;
    std::uint64_t generation_ = 0;
    StoreListener* listener_ = nullptr;
};

} // namespace kxen::xenstore
