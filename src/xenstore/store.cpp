#include "xenstore/store.hpp"
#include <algorithm>
#include <unordered_set>
#include "xenstore/path.hpp"

namespace kxen::xenstore {
namespace {

NodePtr dom0_node(std::vector<std::string> children) {
    auto n = std::make_shared<Node>();
    n->perms = {Perm{0, XS_PERM_NONE}};
    n->children = std::move(children);
    return n;
}

} // namespace

void Store::reset() {
    nodes_.clear();
    owned_.clear();
    put("/", dom0_node({"tool"}));
    put("/tool", dom0_node({"xenstored"}));
    put("/tool/xenstored", dom0_node({}));
    put(introduce_domain_node, dom0_node({}));
    put(release_domain_node, dom0_node({}));
}

Node const* Store::get(std::string_view path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : it->second.get();
}

NodePtr Store::share(std::string_view path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? nullptr : it->second;
}

std::uint64_t Store::generation_of(std::string_view path) const {
    auto it = nodes_.find(path);
    return it == nodes_.end() ? no_generation : it->second->generation;
}

void Store::put(std::string_view path, NodePtr node) {
    node->generation = next_generation();
    count(node->owner());
    auto it = nodes_.find(path);
    if (it != nodes_.end()) {
        uncount(it->second->owner());
        it->second = std::move(node);
    } else {
        it = nodes_.emplace(std::string{path}, std::move(node)).first;
    }
    if (listener_) listener_->node_written(path, *it->second);
}

void Store::erase(std::string_view path) {
    auto it = nodes_.find(path);
    if (it == nodes_.end()) return;
    uncount(it->second->owner());
    nodes_.erase(it);
    if (listener_) listener_->node_removed(path);
}

std::uint32_t Store::owned(DomId id) const {
    auto it = owned_.find(id);
    return it == owned_.end() ? 0 : it->second;
}

void Store::uncount(DomId id) {
    auto it = owned_.find(id);
    if (it != owned_.end() && --it->second == 0) owned_.erase(it);
}

std::size_t Store::repair() {
    std::size_t fixed = 0;
    auto fresh = [](std::vector<std::string> c) {
        auto n = std::make_shared<Node>();
        n->perms = {Perm{0, XS_PERM_NONE}};
        n->children = std::move(c);
        return n;
    };
    if (!get("/")) nodes_.emplace("/", fresh({})), ++fixed;
    for (auto special : {introduce_domain_node, release_domain_node})
        if (!get(special)) nodes_.emplace(std::string{special}, fresh({})), ++fixed;

    // Walk the tree from "/", fixing children lists; what the walk misses is unreachable.
    std::unordered_set<std::string_view> reached;
    std::vector<std::string> stack{"/"};
    while (!stack.empty()) {
        std::string path = std::move(stack.back());
        stack.pop_back();
        auto it = nodes_.find(path);
        reached.insert(it->first);
        Node& n = *it->second;
        if (n.perms.empty()) n.perms = {Perm{0, XS_PERM_NONE}}, ++fixed;
        std::unordered_set<std::string_view> seen;
        std::vector<std::string> keep;
        for (auto& c : n.children) {
            auto cp = child_path(path, c);
            if (c.empty() || c.find('/') != std::string::npos || !seen.insert(c).second ||
                !nodes_.contains(cp)) {
                ++fixed;
                continue;
            }
            keep.push_back(c);
            stack.push_back(std::move(cp));
        }
        if (keep.size() != n.children.size()) n.children = std::move(keep);
    }
    for (auto it = nodes_.begin(); it != nodes_.end();) {
        if (!is_special(it->first) && !reached.contains(it->first)) {
            it = nodes_.erase(it), ++fixed;
        } else {
            ++it;
        }
    }
    owned_.clear();
    for (auto const& [path, node] : nodes_) {
        if (node->perms.empty()) node->perms = {Perm{0, XS_PERM_NONE}};
        node->generation = next_generation();
        count(node->owner());
    }
    return fixed;
}

} // namespace kxen::xenstore
