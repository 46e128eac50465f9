#include "hv/time/pvclock.hpp"
#include <gtest/gtest.h>

using namespace kxen::hv::pvclock;

TEST(Pvclock, ScaleConvertsOneSecondOfTicksToOneSecond) {
    for (std::uint64_t hz : {1'000'000'000ull, 2'100'000'000ull, 2'999'999'000ull, 3'600'000'000ull, 250'000'000ull}) {
        auto s = scale_for(hz);
        auto ns = scale_delta(hz, s);
        EXPECT_NEAR(static_cast<double>(ns), 1e9, 2.0) << hz;
    }
}

TEST(Pvclock, ScaleMatchesXenShiftConvention) {
    // Xen's set_time_scale for 3 GHz: 3e9 > 2e9 so one right shift, then mul = 1e9/1.5e9 * 2^32.
    auto s = scale_for(3'000'000'000ull);
    EXPECT_EQ(s.shift, -1);
    EXPECT_NEAR(static_cast<double>(s.mul_frac), 2863311530.0, 2.0);
}

TEST(Pvclock, UpdateLeavesAnEvenVersion) {
    Clock c{2'000'000};
    vcpu_time_info t{};
    c.update(t);
    EXPECT_EQ(t.version % 2, 0u);
    EXPECT_GT(t.version, 0u);
    auto v = t.version;
    c.update(t);
    EXPECT_EQ(t.version, v + 2);
    EXPECT_EQ(t.flags & XEN_PVCLOCK_TSC_STABLE_BIT, XEN_PVCLOCK_TSC_STABLE_BIT);
}
