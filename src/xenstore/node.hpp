// kxen::xenstore::Node: one entry of the store: its value bytes, ACL, children's names (in
// creation order, which XS_DIRECTORY keeps) and the generation of its last change, which
// transactions compare to detect conflicts.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include "xenstore/perms.hpp"

namespace kxen::xenstore {

inline constexpr std::uint64_t no_generation = ~std::uint64_t{0};   // "the node did not exist"

struct Node {
    std::string value;
    Perms perms;
    std::vector<std::string> children;
    std::uint64_t generation = 0;

    DomId owner() const { return perms.empty() ? 0 : perms.front().id; }

    // What Xen charges against the node-size quota: its header (16 bytes), 8 bytes per ACL
    // entry, the data and the NUL-separated children names (calc_node_acc_size()).
    std::size_t acc_size() const {
        std::size_t n = 16 + 8 * perms.size() + value.size();
        for (auto const& c : children) n += c.size() + 1;
        return n;
    }
    std::size_t children_bytes() const {
        std::size_t n = 0;
        for (auto const& c : children) n += c.size() + 1;
        return n;
    }
};

// Nodes are shared between the store and transactions that read them; whoever changes a node
// that someone else also holds changes a copy (see Store::update, Db::update).
using NodePtr = std::shared_ptr<Node>;

} // namespace kxen::xenstore
