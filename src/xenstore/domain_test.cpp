// Domain bookkeeping for socket clients (the toolstack), with and without guest rings.
#include <gtest/gtest.h>
#include <stdint.h>
#include <xen/xen.h>
#include "xenstore/test_support.hpp"

namespace kxen::xenstore::test {
namespace {

using Ev = std::pair<std::string, std::string>;
using Evs = std::vector<Ev>;

Reply introduce(Client& c, DomId id, std::uint32_t port = 3) {
    return c.call(XS_INTRODUCE, args(std::to_string(id), "0x1234", std::to_string(port)));
}
Reply introduced(Client& c, DomId id) {
    return c.call(XS_IS_DOMAIN_INTRODUCED, args(std::to_string(id)));
}

TEST(Domain, IntroduceWithoutHypervisorKeepsTheBookkeeping) {
    Server s;   // the default factory: ENOSYS
    Client tool{s}, w{s};
    w.watch("@introduceDomain", "in");
    w.watch("@releaseDomain", "out");
    w.events();
    EXPECT_EQ(introduced(tool, 7).body, std::string("F\0", 2));
    EXPECT_TRUE(introduce(tool, 7).ok());
    EXPECT_EQ(introduced(tool, 7).body, std::string("T\0", 2));
    EXPECT_EQ(w.events(), (Evs{{"@introduceDomain", "in"}}));
    EXPECT_TRUE(introduce(tool, 7).ok());   // again: no second event
    EXPECT_TRUE(w.events().empty());
    EXPECT_TRUE(tool.call(XS_RELEASE, args("7")).ok());
    EXPECT_EQ(introduced(tool, 7).body, std::string("F\0", 2));
    EXPECT_EQ(w.events(), (Evs{{"@releaseDomain", "out"}}));
    EXPECT_EQ(tool.call(XS_RELEASE, args("7")).error(), "ENOENT");
}

// Xen's domain_cleanup(): a shutdown fires @releaseDomain once (libxl's death watch), the
// domain stays introduced until the hypervisor no longer has it, and then goes.
TEST(Domain, ShutdownFiresReleaseDomainOnceAndDeathReleases) {
    Server s;
    Client tool{s}, w{s};
    EXPECT_TRUE(introduce(tool, 7).ok());
    w.watch("@releaseDomain", "out");
    w.events();
    s.check_domains({{0, false}, {7, false}});
    s.flush();   // what the daemon's loop does after each wake-up
    EXPECT_TRUE(w.events().empty());
    s.check_domains({{0, false}, {7, true}});
    s.flush();
    EXPECT_EQ(w.events(), (Evs{{"@releaseDomain", "out"}}));
    s.check_domains({{0, false}, {7, true}});   // still shut down: said once
    s.flush();
    EXPECT_TRUE(w.events().empty());
    EXPECT_EQ(introduced(tool, 7).body, std::string("T\0", 2));
    s.check_domains({{0, false}});
    s.flush();
    EXPECT_EQ(introduced(tool, 7).body, std::string("F\0", 2));
    EXPECT_EQ(w.events(), (Evs{{"@releaseDomain", "out"}}));
}

TEST(Domain, PathsAndChecks) {
    Server s;
    Client tool{s}, g{s, Identity{5, false, {}}};
    EXPECT_EQ(tool.call(XS_GET_DOMAIN_PATH, args("12")).body, args("/local/domain/12"));
    EXPECT_EQ(g.call(XS_GET_DOMAIN_PATH, args("12")).body, args("/local/domain/12"));
    EXPECT_EQ(tool.call(XS_GET_DOMAIN_PATH, "12").error(), "EINVAL");
    EXPECT_EQ(introduced(tool, 0).body, std::string("T\0", 2));
    EXPECT_EQ(introduced(tool, DOMID_SELF).body, std::string("T\0", 2));
    EXPECT_EQ(introduce(tool, 9, 0).error(), "EINVAL");          // no port
    EXPECT_EQ(introduce(tool, 0).error(), "EINVAL");             // dom0
    EXPECT_EQ(tool.call(XS_INTRODUCE, args("9", "1")).error(), "EINVAL");
    EXPECT_EQ(tool.call(XS_RELEASE, args("0")).error(), "EINVAL");
    EXPECT_EQ(tool.call(XS_RESUME, args("9")).error(), "ENOENT");
    for (auto t : {XS_INTRODUCE, XS_RELEASE, XS_IS_DOMAIN_INTRODUCED, XS_RESUME, XS_SET_TARGET,
                   XS_CONTROL})
        EXPECT_EQ(g.call(t, args("1", "2", "3")).error(), "EACCES") << t;
}

TEST(Domain, ReleaseRemovesTheDomainsNodesAndFiresWatches) {
    Server s;
    Client tool{s}, w{s};
    introduce(tool, 4);
    tool.mkdir("/local/domain/4");
    tool.set_perms("/local/domain/4", "n4");
    tool.write("/local/domain/4/data", "x");
    tool.write("/local/domain/0/backend/vif/4", "b");
    tool.set_perms("/local/domain/0/backend/vif/4", "n0", "r4");
    w.watch("/local/domain/4", "fe");
    w.events();
    EXPECT_TRUE(tool.call(XS_RELEASE, args("4")).ok());
    EXPECT_EQ(tool.read("/local/domain/4/data").error(), "ENOENT");
    EXPECT_EQ(s.store().owned(4), 0u);
    EXPECT_FALSE(w.events().empty());
    // dom0's node stays, without the released domain's ACL entry.
    EXPECT_EQ(tool.get_perms("/local/domain/0/backend/vif/4").body, args("n0"));
}

TEST(Domain, KeepOrphansHandsNodesToDom0) {
    Config cfg;
    cfg.keep_orphans = true;
    Server s{cfg};
    Client tool{s};
    introduce(tool, 4);
    tool.mkdir("/local/domain/4");
    tool.set_perms("/local/domain/4", "n4");
    tool.call(XS_RELEASE, args("4"));
    EXPECT_EQ(tool.get_perms("/local/domain/4").body, args("n0"));
}

TEST(Domain, SetTargetGivesAStubDomainItsGuestsRights) {
    Ports ports;
    Server s{Config{}, ports.factory()};
    Client tool{s};
    introduce(tool, 5);
    introduce(tool, 6);
    tool.mkdir("/local/domain/5/secret");
    tool.set_perms("/local/domain/5/secret", "n5");
    Connection* stub = s.domains().find(6)->conn;
    ASSERT_NE(stub, nullptr);
    EXPECT_EQ(tool.call(XS_SET_TARGET, args("6", "5")).error(), "");
    EXPECT_EQ(stub->who().target, DomId{5});
    EXPECT_EQ(tool.call(XS_SET_TARGET, args("6", "77")).error(), "ENOENT");
    EXPECT_TRUE(tool.call(XS_RESUME, args("5")).ok());
}

TEST(Domain, UnprivilegedGuestsAreConfined) {
    Server s;
    Client tool{s}, g{s, Identity{5, false, {}}};
    tool.write("/private/x", "1");
    EXPECT_EQ(g.read("/private/x").error(), "EACCES");
    EXPECT_EQ(g.read("/private/none").error(), "EACCES");   // cannot even learn it is absent
    EXPECT_EQ(g.write("/private/y", "1").error(), "EACCES");
    EXPECT_EQ(g.rm("/private").error(), "EACCES");
    tool.mkdir("/local/domain/5");
    tool.set_perms("/local/domain/5", "n5");
    EXPECT_TRUE(g.write("data", "v").ok());
    EXPECT_EQ(g.get_perms("data").body, args("n5"));   // inherits, owned by its creator
    EXPECT_EQ(g.read("missing").error(), "ENOENT");     // its own directory: may know
    EXPECT_EQ(g.set_perms("data", "n6").error(), "EPERM");   // may not give it away
    EXPECT_TRUE(g.set_perms("data", "n5", "r6").ok());
    tool.write("/public", "p");
    tool.set_perms("/public", "r0");
    EXPECT_EQ(g.read("/public").body, "p");
    EXPECT_EQ(g.write("/public", "q").error(), "EACCES");
}

} // namespace
} // namespace kxen::xenstore::test
