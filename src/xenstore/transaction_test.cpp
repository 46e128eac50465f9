// Transactions, driven through the wire protocol as test-xenstore drives them.
#include <gtest/gtest.h>
#include "xenstore/test_support.hpp"

namespace kxen::xenstore::test {
namespace {

TEST(Transaction, ReadModifyWriteCommits) {
    Server s;
    Client c{s};
    ASSERT_TRUE(c.write("/a", "1").ok());
    auto tx = c.start();
    ASSERT_NE(tx, 0u);
    EXPECT_EQ(c.read("/a", tx).body, "1");
    ASSERT_TRUE(c.write("/a", "2", tx).ok());
    EXPECT_EQ(c.read("/a", tx).body, "2");
    EXPECT_EQ(c.read("/a").body, "1");   // not visible outside yet
    ASSERT_TRUE(c.end(tx, true).ok());
    EXPECT_EQ(c.read("/a").body, "2");
}

TEST(Transaction, AbortLeavesTheStoreAlone) {
    Server s;
    Client c{s};
    c.write("/a", "1");
    auto tx = c.start();
    c.write("/a", "2", tx);
    c.write("/new/node", "x", tx);
    ASSERT_TRUE(c.end(tx, false).ok());
    EXPECT_EQ(c.read("/a").body, "1");
    EXPECT_EQ(c.read("/new").error(), "ENOENT");
}

TEST(Transaction, ConflictingWriteGivesEagainAndKeepsTheOtherWrite) {
    Server s;
    Client c{s}, other{s};
    c.write("/a", "a");
    auto tx = c.start();
    EXPECT_EQ(c.read("/a", tx).body, "a");
    ASSERT_TRUE(other.write("/a", "b").ok());
    EXPECT_EQ(c.read("/a", tx).body, "a");   // the transaction keeps what it first saw
    c.write("/a", "c", tx);
    EXPECT_EQ(c.end(tx, true).error(), "EAGAIN");
    EXPECT_EQ(c.read("/a").body, "b");
    EXPECT_EQ(c.end(tx, true).error(), "ENOENT");   // gone either way
}

TEST(Transaction, ConflictOnNodeCreatedOrRemovedMeanwhile) {
    Server s;
    Client c{s}, other{s};
    auto tx = c.start();
    EXPECT_EQ(c.read("/x", tx).error(), "ENOENT");
    other.write("/x", "1");
    c.write("/y", "1", tx);
    EXPECT_EQ(c.end(tx, true).error(), "EAGAIN");

    c.write("/z", "1");
    tx = c.start();
    c.read("/z", tx);
    other.rm("/z");
    EXPECT_EQ(c.end(tx, true).error(), "EAGAIN");
}

TEST(Transaction, UnrelatedChangesDoNotConflict) {
    Server s;
    Client c{s}, other{s};
    c.write("/a/x", "1");
    c.write("/b", "1");
    auto tx = c.start();
    c.read("/a/x", tx);
    c.write("/a/x", "2", tx);
    other.write("/b", "2");
    EXPECT_TRUE(c.end(tx, true).ok());
}

TEST(Transaction, CreateAndRemoveSubtreesInside) {
    Server s;
    Client c{s};
    c.write("/d/old/leaf", "x");
    auto tx = c.start();
    ASSERT_TRUE(c.write("/d/new/a/b", "v", tx).ok());
    ASSERT_TRUE(c.rm("/d/old", tx).ok());
    EXPECT_EQ(split(c.dir("/d", tx).body), (std::vector<std::string>{"new"}));
    EXPECT_EQ(split(c.dir("/d").body), (std::vector<std::string>{"old"}));
    ASSERT_TRUE(c.end(tx, true).ok());
    EXPECT_EQ(split(c.dir("/d").body), (std::vector<std::string>{"new"}));
    EXPECT_EQ(c.read("/d/new/a/b").body, "v");
    EXPECT_EQ(c.read("/d/old/leaf").error(), "ENOENT");
}

TEST(Transaction, WatchesFireAtCommitOnly) {
    Server s;
    Client c{s}, w{s};
    w.watch("/a", "tok");
    w.events();
    auto tx = c.start();
    c.write("/a/b", "1", tx);
    EXPECT_TRUE(w.events().empty());
    c.end(tx, true);
    auto ev = w.events();
    ASSERT_FALSE(ev.empty());
    EXPECT_EQ(ev.back(), (std::pair<std::string, std::string>{"/a/b", "tok"}));
}

TEST(Transaction, ProtocolErrors) {
    Server s;
    Client c{s};
    auto tx = c.start();
    EXPECT_EQ(c.call(XS_TRANSACTION_START, args(""), tx).error(), "EBUSY");
    EXPECT_EQ(c.call(XS_TRANSACTION_END, args("X"), tx).error(), "EINVAL");
    EXPECT_EQ(c.read("/", 12345).error(), "ENOENT");
    EXPECT_EQ(c.call(XS_TRANSACTION_END, args("T")).error(), "ENOENT");
    EXPECT_TRUE(c.end(tx, true).ok());
}

TEST(Transaction, ResetWatchesEndsTransactions) {
    Server s;
    Client c{s};
    auto tx = c.start();
    EXPECT_TRUE(c.call(XS_RESET_WATCHES, args("")).ok());
    EXPECT_EQ(c.read("/", tx).error(), "ENOENT");
}

} // namespace
} // namespace kxen::xenstore::test
