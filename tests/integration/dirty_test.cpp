// The memory dirtier that migration tests run: it must fill its working set, dirty it at
// the asked rate, verify every page it wrote and pass under kxend on its own.
#include <gtest/gtest.h>
#include "host.hpp"

using namespace std::chrono_literals;
using kxen::test::Host;

TEST(Dirty, WritesAndVerifiesItsWorkingSet) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("dirty", "test=dirty rate=20 wss=16 seconds=3", {"memory=64"}).status, 0);
    EXPECT_TRUE(h.wait_console("dirty", "KXEN-TEST dirty PASS", 120s)) << h.console_log("dirty") << h.kxend_log();
    auto log = h.console_log("dirty");
    EXPECT_EQ(log.find("FAIL"), std::string::npos) << log;
    // One report a second, each after verifying an eighth of the working set.
    EXPECT_NE(log.find(" verified=512 "), std::string::npos) << log;
    EXPECT_NE(log.find(" ok"), std::string::npos) << log;
    EXPECT_TRUE(h.kxend_alive());
}
