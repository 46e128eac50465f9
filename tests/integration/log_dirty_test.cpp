// Log-dirty (XEN_DOMCTL_shadow_op) against a running minios: a pre-copy done only with what the
// log reports must end with a copy equal to the guest's memory, page for page. A page the log
// misses (a guest write KVM saw, or one kxend made itself: pvclock, shared_info, grant copies)
// shows up as a difference.
#include <gtest/gtest.h>
#include <cstring>
#include <thread>
#include <xen/domctl.h>
#include "host.hpp"
#include "privcmd/client.hpp"

using kxen::test::Host;
using namespace kxen;
using namespace std::chrono_literals;

TEST(LogDirty, PrecopyFromTheLogEndsEqualToGuestMemory) {
    KXEN_REQUIRE_ACCEL();
    Host h;
    ASSERT_EQ(h.create("dirty", "test=idle period_ms=1", {"memory=8"}).status, 0);
    ASSERT_TRUE(h.wait_console("dirty", "KXEN-TEST idle PASS")) << h.console_log("dirty");
    auto domid = h.domid("dirty");
    ASSERT_NE(domid, 0);
    auto cl = privcmd::Client::connect(h.socket());
    ASSERT_TRUE(cl);
    auto& c = *cl;

    constexpr std::uint64_t pages = 8 << 8;   // 8 MiB of RAM from gfn 0
    std::vector<std::uint64_t> bitmap(pages / 64);
    std::vector<std::byte> copy(pages * 4096);
    auto fetch = [&](std::uint64_t gfn) {
        auto m = c.map_foreign(domid, gfn, 1, true);
        ASSERT_TRUE(m) << "gfn " << gfn;
        std::memcpy(copy.data() + gfn * 4096, m->map.data(), 4096);
    };

    EXPECT_FALSE(c.shadow_op(domid, XEN_DOMCTL_SHADOW_OP_CLEAN, bitmap));   // not enabled yet
    ASSERT_TRUE(c.shadow_op(domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY));
    EXPECT_FALSE(c.shadow_op(domid, XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY));  // twice: busy
    for (std::uint64_t g = 0; g < pages; ++g) fetch(g);

    std::uint32_t total = 0;
    for (int round = 0; round < 5; ++round) {
        std::this_thread::sleep_for(20ms);
        auto n = c.shadow_op(domid, XEN_DOMCTL_SHADOW_OP_CLEAN, bitmap);
        ASSERT_TRUE(n);
        total += *n;
        for (std::uint64_t g = 0; g < pages; ++g)
            if (bitmap[g / 64] >> (g % 64) & 1) fetch(g);
    }
    EXPECT_GT(total, 0u);   // an idle guest still writes (its stack, pvclock)
    ASSERT_TRUE(c.pause(domid));
    auto last = c.shadow_op(domid, XEN_DOMCTL_SHADOW_OP_CLEAN, bitmap, XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL);
    ASSERT_TRUE(last);
    for (std::uint64_t g = 0; g < pages; ++g)
        if (bitmap[g / 64] >> (g % 64) & 1) fetch(g);

    // A peek of a paused guest after a clean sees only the pages kxend holds (shared_info,
    // vcpu_info, grant frames): they are in every round, the final one included, and kxend
    // may write them (a timer event for a paused guest) after it, as Xen does.
    auto peek = c.shadow_op(domid, XEN_DOMCTL_SHADOW_OP_PEEK, bitmap);
    ASSERT_TRUE(peek);
    EXPECT_LT(*peek, 16u);

    unsigned differ = 0;
    for (std::uint64_t g = 0; g < pages; ++g) {
        if (bitmap[g / 64] >> (g % 64) & 1) continue;
        auto m = c.map_foreign(domid, g, 1, true);
        ASSERT_TRUE(m);
        if (std::memcmp(copy.data() + g * 4096, m->map.data(), 4096) != 0) {
            ++differ;
            ADD_FAILURE() << "gfn " << g << " changed but the log did not say so";
        }
    }
    EXPECT_EQ(differ, 0u);
    ASSERT_TRUE(c.shadow_op(domid, XEN_DOMCTL_SHADOW_OP_OFF));
    ASSERT_TRUE(c.unpause(domid));
    EXPECT_EQ(h.kxl({"destroy", "dirty"}).status, 0);
    EXPECT_TRUE(h.kxend_alive());
}
