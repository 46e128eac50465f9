// minios's blkfront (guest/minios/blkfront.cpp) against kxen-backend's vbd backend: data a
// guest writes lands in the image where it said, nothing else changes, and a frontend that
// sends garbage gets errors without disturbing other guests' disks.
#include <gtest/gtest.h>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#include "blk_image.hpp"
#include "host.hpp"

using namespace kxen::test;
using namespace std::chrono_literals;


TEST(Blk, MiniosWritesFlushesAndVerifies) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto img = image(h, "blk", 80 * MiB);
    auto t0 = std::chrono::steady_clock::now();
    auto r = h.create("blk", "test=blk size=64 seed=3", {"memory=32", disk(img)});
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_TRUE(h.wait_console("blk", "KXEN-TEST blk PASS", 180s)) << h.console_log("blk") << h.kxend_log();
    ASSERT_TRUE(h.wait_gone("blk", 30s)) << h.console_log("blk");
    std::cout << "64 MiB written and read back in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
              << " ms\n" << h.console_log("blk");
    auto d = read_all(img);
    ASSERT_EQ(d.size(), 80 * MiB);
    EXPECT_EQ(first_bad_sector(d, 64 * MiB / 512, 3), 64 * MiB / 512);
    EXPECT_EQ(first_not(d, 64 * MiB, d.size(), 0), d.size()) << "written past the range the guest wrote";
    EXPECT_NE(h.kxend_log().find("connected (x86_64 ABI, persistent grants)"), std::string::npos) << h.kxend_log();
}

// Four rings for one disk (multi-queue): requests spread over them, answered on each.
TEST(Blk, MultiQueueFrontendUsesFourRings) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto img = image(h, "mq", 20 * MiB);
    auto r = h.create("mq", "test=blk size=16 seed=21 queues=4 qd=8 pattern=random", {"memory=32", disk(img)});
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_TRUE(h.wait_console("mq", "KXEN-TEST blk PASS", 180s)) << h.console_log("mq") << h.kxend_log();
    ASSERT_TRUE(h.wait_gone("mq", 30s));
    auto d = read_all(img);
    EXPECT_EQ(first_bad_sector(d, 16 * MiB / 512, 21), 16 * MiB / 512);
    EXPECT_EQ(first_not(d, 16 * MiB, d.size(), 0), d.size());
    EXPECT_NE(h.kxend_log().find("persistent grants, 4 queues)"), std::string::npos) << h.kxend_log();
    EXPECT_NE(h.console_log("mq").find("queues 4 of 4"), std::string::npos) << h.console_log("mq");
}

// A frontend that does not offer feature-persistent: every segment is a grant of its own,
// copied by kxend, and each is ended when its request completes (blk fails otherwise).
TEST(Blk, FrontendWithoutPersistentGrants) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto img = image(h, "np", 20 * MiB);
    auto r = h.create("np", "test=blk size=16 seed=9 persistent=0 pattern=random", {"memory=32", disk(img)});
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_TRUE(h.wait_console("np", "KXEN-TEST blk PASS", 180s)) << h.console_log("np") << h.kxend_log();
    ASSERT_TRUE(h.wait_gone("np", 30s));
    auto d = read_all(img);
    EXPECT_EQ(first_bad_sector(d, 16 * MiB / 512, 9), 16 * MiB / 512);
    EXPECT_EQ(first_not(d, 16 * MiB, d.size(), 0), d.size());
    EXPECT_NE(h.kxend_log().find("connected (x86_64 ABI)"), std::string::npos) << h.kxend_log();
}

TEST(Blk, HostileFrontendGetsErrorsAndOthersAreServed) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto good = image(h, "good", 64 * MiB);
    auto bad = image(h, "bad", 4 * MiB, 0xa5);
    // The hostile guest starts once the good one is moving data, and is done long before it.
    ASSERT_EQ(h.create("good", "test=blk size=48 qd=4 pattern=random seed=11", {"memory=32", disk(good)}).status, 0);
    ASSERT_TRUE(h.wait_console("good", "KXEN-TEST blk RUNNING", 60s)) << h.console_log("good") << h.kxend_log();
    ASSERT_EQ(h.create("bad", "test=blk-hostile", {disk(bad)}).status, 0);
    EXPECT_TRUE(h.wait_console("bad", "KXEN-TEST blk-hostile PASS", 120s)) << h.console_log("bad") << h.kxend_log();
    EXPECT_TRUE(h.wait_console("good", "KXEN-TEST blk PASS", 120s)) << h.console_log("good") << h.kxend_log();
    EXPECT_TRUE(h.wait_gone("bad", 30s));
    EXPECT_TRUE(h.wait_gone("good", 30s));
    EXPECT_NE(h.kxend_log().find("ran past the ring; closing the device"), std::string::npos) << h.kxend_log();

    auto g = read_all(good);
    EXPECT_EQ(first_bad_sector(g, 48 * MiB / 512, 11), 48 * MiB / 512);
    EXPECT_EQ(first_not(g, 48 * MiB, g.size(), 0), g.size());
    std::cout << h.console_log("good") << h.console_log("bad");
    // blk-hostile's one legitimate write is page 0 = 0x5a; everything else stays as filled.
    auto b = read_all(bad);
    ASSERT_EQ(b.size(), 4 * MiB);
    EXPECT_EQ(first_not(b, 0, 4096, 0x5a), 4096u);
    EXPECT_EQ(first_not(b, 4096, b.size(), 0xa5), b.size());

    // The backend is still serving: a third guest's disk works.
    ASSERT_TRUE(h.kxend_alive());
    auto third = image(h, "third", 4 * MiB);
    ASSERT_EQ(h.create("third", "test=blk size=1 seed=5", {disk(third, "xvdb")}).status, 0);
    EXPECT_TRUE(h.wait_console("third", "KXEN-TEST blk PASS", 60s)) << h.console_log("third") << h.kxend_log();
    EXPECT_TRUE(h.wait_gone("third", 30s));
    auto t = read_all(third);
    EXPECT_EQ(first_bad_sector(t, 2048, 5), 2048u);
}

TEST(Blk, ReadOnlyDiskRefusesWrites) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_TRUE(h.started());
    auto img = image(h, "ro", 1 * MiB, 0x3c);
    ASSERT_EQ(h.create("ro", "test=blk-hostile ro=1", {disk(img, "xvdb", "ro")}).status, 0);
    EXPECT_TRUE(h.wait_console("ro", "KXEN-TEST blk-hostile PASS", 120s)) << h.console_log("ro") << h.kxend_log();
    EXPECT_TRUE(h.wait_gone("ro", 30s));
    EXPECT_NE(h.kxend_log().find("read-only"), std::string::npos) << h.kxend_log();
    auto d = read_all(img);
    ASSERT_EQ(d.size(), 1 * MiB);
    EXPECT_EQ(first_not(d, 0, d.size(), 0x3c), d.size());
}
