// Quotas bind unprivileged domains (Xen's hard_quotas[] defaults, settable).
#include <gtest/gtest.h>
#include "xenstore/test_support.hpp"

namespace kxen::xenstore::test {
namespace {

constexpr Identity guest5{5, false, {}};

// A guest with a home directory it owns, as the toolstack sets one up.
void give_home(Client& dom0, DomId id) {
    auto home = domain_path(id);
    dom0.mkdir(home);
    dom0.set_perms(home, "n" + std::to_string(id));
}

TEST(Quota, DefaultsAreXens) {
    Quotas q;
    EXPECT_EQ(q.nodes, 1000u);
    EXPECT_EQ(q.node_size, 2048u);
    EXPECT_EQ(q.watches, 128u);
    EXPECT_EQ(q.transactions, 10u);
    EXPECT_EQ(q.outstanding, 20u);
    EXPECT_EQ(q.transaction_nodes, 1024u);
    EXPECT_EQ(q.node_permissions, 5u);
    EXPECT_EQ(q.path_max, unsigned{XENSTORE_REL_PATH_MAX});
    EXPECT_TRUE(set_quota(q, "nodes", 7));
    EXPECT_EQ(q.nodes, 7u);
    EXPECT_TRUE(set_quota(q, "path-max", 999999));
    EXPECT_EQ(q.path_max, unsigned{XENSTORE_REL_PATH_MAX});
    EXPECT_FALSE(set_quota(q, "bogus", 1));
}

TEST(Quota, NodesPerDomain) {
    Config cfg;
    cfg.quotas.nodes = 4;
    Server s{cfg};
    Client dom0{s}, g{s, guest5};
    give_home(dom0, 5);   // owned by 5: 1 node
    EXPECT_TRUE(g.write("a", "1").ok());
    EXPECT_TRUE(g.write("b/c", "1").ok());   // 4 nodes now
    EXPECT_EQ(g.write("d", "1").error(), "ENOSPC");
    EXPECT_TRUE(g.write("a", "2").ok());     // changing is fine
    EXPECT_TRUE(g.rm("b").ok());
    EXPECT_TRUE(g.write("d", "1").ok());
    EXPECT_TRUE(dom0.write("/local/domain/5/dom0-made", "").ok());   // dom0 is not limited
}

TEST(Quota, NodesPerDomainInsideATransaction) {
    Config cfg;
    cfg.quotas.nodes = 3;
    Server s{cfg};
    Client dom0{s}, g{s, guest5};
    give_home(dom0, 5);
    auto tx = g.start();
    EXPECT_TRUE(g.write("a", "1", tx).ok());
    EXPECT_TRUE(g.write("b", "1", tx).ok());
    EXPECT_EQ(g.write("c", "1", tx).error(), "ENOSPC");
    EXPECT_TRUE(g.end(tx, true).ok());
    EXPECT_EQ(s.store().owned(5), 3u);
}

TEST(Quota, NodeSize) {
    Server s;
    Client dom0{s}, g{s, guest5};
    give_home(dom0, 5);
    EXPECT_TRUE(g.write("small", std::string(1000, 'x')).ok());
    EXPECT_EQ(g.write("big", std::string(2048, 'x')).error(), "ENOSPC");
    EXPECT_TRUE(dom0.write("/local/domain/5/big", std::string(4000, 'x')).ok());
}

TEST(Quota, WatchesPerDomain) {
    Config cfg;
    cfg.quotas.watches = 2;
    Server s{cfg};
    Client dom0{s}, g{s, guest5};
    EXPECT_TRUE(g.watch("a", "1").ok());
    EXPECT_TRUE(g.watch("b", "1").ok());
    EXPECT_EQ(g.watch("c", "1").error(), "E2BIG");
    EXPECT_TRUE(g.unwatch("a", "1").ok());
    EXPECT_TRUE(g.watch("c", "1").ok());
}

TEST(Quota, TransactionsPerDomain) {
    Config cfg;
    cfg.quotas.transactions = 2;
    Server s{cfg};
    Client g{s, guest5};
    auto t1 = g.start();
    auto t2 = g.start();
    EXPECT_NE(t1, 0u);
    EXPECT_NE(t2, 0u);
    EXPECT_EQ(g.call(XS_TRANSACTION_START, args("")).error(), "ENOSPC");
    g.end(t1, false);
    EXPECT_NE(g.start(), 0u);
}

TEST(Quota, TransactionNodes) {
    Config cfg;
    cfg.quotas.transaction_nodes = 3;
    Server s{cfg};
    Client dom0{s}, g{s, guest5};
    for (auto p : {"/q/a", "/q/b", "/q/c", "/q/d"}) dom0.write(p, "1");
    dom0.set_perms("/q", "r0");
    for (auto p : {"/q/a", "/q/b", "/q/c", "/q/d"}) dom0.set_perms(p, "r0");
    auto tx = g.start();
    EXPECT_TRUE(g.read("/q/a", tx).ok());
    EXPECT_TRUE(g.read("/q/b", tx).ok());
    EXPECT_TRUE(g.read("/q/c", tx).ok());
    EXPECT_EQ(g.read("/q/d", tx).error(), "ENOSPC");
    EXPECT_EQ(g.end(tx, true).error(), "ENOMEM");   // the transaction failed as a whole
}

TEST(Quota, PermissionsPerNode) {
    Server s;
    Client dom0{s}, g{s, guest5};
    give_home(dom0, 5);
    g.write("x", "");
    EXPECT_TRUE(g.set_perms("x", "n5", "r1", "r2", "r3", "r4").ok());
    EXPECT_EQ(g.set_perms("x", "n5", "r1", "r2", "r3", "r4", "r6").error(), "ENOSPC");
}

TEST(Quota, PathLength) {
    Config cfg;
    cfg.quotas.path_max = 10;
    Server s{cfg};
    Client dom0{s};
    EXPECT_TRUE(dom0.write("0123456789", "").ok());      // relative: /local/domain/0/...
    EXPECT_EQ(dom0.write("0123456789a", "").error(), "EINVAL");
    EXPECT_EQ(dom0.write("/abcdefghijk", "").error(), "EINVAL");
}

TEST(Quota, ControlShowsAndSetsQuotas) {
    Server s;
    Client dom0{s}, g{s, guest5};
    auto show = dom0.call(XS_CONTROL, args("quota"));
    EXPECT_NE(show.body.find("nodes"), std::string::npos);
    EXPECT_TRUE(dom0.call(XS_CONTROL, args("quota", "set", "watches", "1")).ok());
    EXPECT_EQ(s.config().quotas.watches, 1u);
    EXPECT_EQ(dom0.call(XS_CONTROL, args("quota", "set", "nope", "1")).error(), "EINVAL");
    EXPECT_EQ(g.call(XS_CONTROL, args("quota")).error(), "EACCES");
}

} // namespace
} // namespace kxen::xenstore::test
