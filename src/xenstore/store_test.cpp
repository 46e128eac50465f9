#include <gtest/gtest.h>
#include "xenstore/store.hpp"

namespace kxen::xenstore {
namespace {

NodePtr node(DomId owner, std::vector<std::string> children = {}, std::string value = {}) {
    auto n = std::make_shared<Node>();
    n->perms = {Perm{owner, XS_PERM_NONE}};
    n->children = std::move(children);
    n->value = std::move(value);
    return n;
}

TEST(Store, StartsLikeXensXenstored) {
    Store s;
    ASSERT_NE(s.get("/"), nullptr);
    EXPECT_EQ(s.get("/")->children, std::vector<std::string>{"tool"});
    EXPECT_NE(s.get("/tool/xenstored"), nullptr);
    EXPECT_NE(s.get("@introduceDomain"), nullptr);
    EXPECT_NE(s.get("@releaseDomain"), nullptr);
    EXPECT_EQ(s.owned(0), 5u);
}

TEST(Store, EveryChangeGetsANewGeneration) {
    Store s;
    s.put("/x", node(3));
    auto g1 = s.generation_of("/x");
    s.update("/x", [](Node& n) { n.value = "v"; });
    EXPECT_GT(s.generation_of("/x"), g1);
    s.erase("/x");
    EXPECT_EQ(s.generation_of("/x"), no_generation);
}

TEST(Store, CountsNodesPerOwner) {
    Store s;
    s.put("/a", node(7));
    s.put("/b", node(7));
    EXPECT_EQ(s.owned(7), 2u);
    s.update("/a", [](Node& n) { n.perms[0].id = 8; });
    EXPECT_EQ(s.owned(7), 1u);
    EXPECT_EQ(s.owned(8), 1u);
    s.erase("/b");
    EXPECT_EQ(s.owned(7), 0u);
}

TEST(Store, UpdateCopiesANodeSomeoneElseHolds) {
    Store s;
    s.put("/a", node(0, {}, "old"));
    NodePtr held = s.share("/a");
    s.update("/a", [](Node& n) { n.value = "new"; });
    EXPECT_EQ(held->value, "old");
    EXPECT_EQ(s.get("/a")->value, "new");
}

TEST(Store, RepairDropsDanglingChildrenAndOrphans) {
    Store s;
    s.update("/", [](Node& n) { n.children.push_back("ghost"); n.children.push_back("tool"); });
    s.put("/lost/child", node(0));
    EXPECT_EQ(s.repair(), 3u);   // "ghost", the duplicate "tool", the orphan
    EXPECT_EQ(s.get("/")->children, std::vector<std::string>{"tool"});
    EXPECT_EQ(s.get("/lost/child"), nullptr);
    EXPECT_NE(s.get("@releaseDomain"), nullptr);
}

} // namespace
} // namespace kxen::xenstore
