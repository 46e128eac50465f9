#include <gtest/gtest.h>
#include "xenstore/test_support.hpp"

namespace kxen::xenstore::test {
namespace {

using Ev = std::pair<std::string, std::string>;
using Evs = std::vector<Ev>;

TEST(Watch, FiresOnceAtRegistrationAfterTheAck) {
    Server s;
    Client c{s};
    ASSERT_TRUE(c.watch("/a", "t").ok());
    auto all = c.replies();   // the ack was taken by call(); the event follows it
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].type, unsigned{XS_WATCH_EVENT});
    EXPECT_EQ(split(all[0].body), (std::vector<std::string>{"/a", "t"}));
}

TEST(Watch, FiresForTheNodeAndBelowNotForSiblings) {
    Server s;
    Client c{s}, w{s};
    w.watch("/a", "t");
    w.events();
    c.write("/a/b/c", "1");
    c.write("/ab", "1");
    c.write("/a", "2");
    EXPECT_EQ(w.events(), (Evs{{"/a/b/c", "t"}, {"/a", "t"}}));
}

TEST(Watch, RelativeWatchesGetRelativePaths) {
    Server s;
    Client w{s, Identity{0, true, {}}};
    w.watch("dev", "t");
    EXPECT_EQ(w.events(), (Evs{{"dev", "t"}}));
    w.write("/local/domain/0/dev/x", "1");
    EXPECT_EQ(w.events(), (Evs{{"dev/x", "t"}}));
}

TEST(Watch, RemovalFiresForEveryRemovedNode) {
    Server s;
    Client c{s}, up{s}, down{s};
    c.write("/a/b/c", "1");
    up.watch("/a", "up");
    down.watch("/a/b/c", "down");
    up.events();
    down.events();
    c.rm("/a/b");
    // Watches above see the subtree's root; a watch on a node inside sees that node.
    EXPECT_EQ(up.events(), (Evs{{"/a/b", "up"}}));
    EXPECT_EQ(down.events(), (Evs{{"/a/b/c", "down"}}));
}

TEST(Watch, MkdirOfExistingNodeAndFailedWritesDoNotFire) {
    Server s;
    Client c{s}, w{s};
    c.mkdir("/a");
    w.watch("/a", "t");
    w.events();
    c.mkdir("/a");
    c.call(XS_WRITE, "no-nul-path");
    EXPECT_TRUE(w.events().empty());
}

TEST(Watch, SetPermsFires) {
    Server s;
    Client c{s}, w{s};
    c.write("/a", "1");
    w.watch("/a", "t");
    w.events();
    c.set_perms("/a", "n3");
    EXPECT_EQ(w.events(), (Evs{{"/a", "t"}}));
}

TEST(Watch, DuplicatesUnwatchAndReset) {
    Server s;
    Client c{s};
    EXPECT_TRUE(c.watch("/a", "t").ok());
    EXPECT_EQ(c.watch("/a", "t").error(), "EEXIST");
    EXPECT_TRUE(c.watch("/a", "u").ok());
    EXPECT_TRUE(c.unwatch("/a", "t").ok());
    EXPECT_EQ(c.unwatch("/a", "t").error(), "ENOENT");
    c.events();
    c.write("/a", "1");
    EXPECT_EQ(c.events(), (Evs{{"/a", "u"}}));
    EXPECT_TRUE(c.call(XS_RESET_WATCHES, "").ok());
    c.write("/a", "2");
    EXPECT_TRUE(c.events().empty());
    EXPECT_EQ(s.watches().total(), 0u);
}

TEST(Watch, WatchArgumentsAreChecked) {
    Server s;
    Client c{s};
    EXPECT_EQ(c.call(XS_WATCH, args("/a")).error(), "EINVAL");
    EXPECT_EQ(c.call(XS_WATCH, args("/a", "t", "x")).error(), "EINVAL");
    EXPECT_EQ(c.call(XS_WATCH, args("/a/", "t")).error(), "EINVAL");
    EXPECT_TRUE(c.watch("@anything", "t").ok());   // any special name may be watched
}

TEST(Watch, UnprivilegedWatchersOnlyHearOfNodesTheyMayRead) {
    Server s;
    Client dom0{s}, guest{s, Identity{5, false, {}}};
    dom0.write("/secret/x", "1");
    dom0.write("/open/x", "1");
    dom0.set_perms("/open", "n0", "r5");
    dom0.set_perms("/open/x", "n0", "r5");
    guest.watch("/secret", "s");
    guest.watch("/open", "o");
    guest.events();
    dom0.write("/secret/x", "2");
    dom0.write("/open/x", "2");
    EXPECT_EQ(guest.events(), (Evs{{"/open/x", "o"}}));
    // Losing access still tells: the old ACL allowed reading.
    dom0.set_perms("/open/x", "n0");
    EXPECT_EQ(guest.events(), (Evs{{"/open/x", "o"}}));
}

TEST(Watch, IdenticalPendingEventsAreCoalesced) {
    Server s;
    Client c{s}, w{s};
    w.watch("/a", "t");
    w.events();
    w.pipe().write_limit = 0;   // w stops reading
    c.write("/a", "1");
    c.write("/a", "2");
    c.write("/a", "3");
    w.pipe().write_limit = SIZE_MAX;
    w.run();
    EXPECT_EQ(w.events(), (Evs{{"/a", "t"}}));
}

TEST(Watch, ClosedConnectionLosesItsWatches) {
    Server s;
    Client c{s};
    {
        Client w{s};
        w.watch("/a", "t");
        w.pipe().closed = true;
        w.run();
    }
    EXPECT_EQ(s.watches().total(), 0u);
    c.write("/a", "1");   // nothing to deliver to, nothing breaks
    EXPECT_EQ(c.read("/a").body, "1");
}

} // namespace
} // namespace kxen::xenstore::test
