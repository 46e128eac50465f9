#include "backends/console/console_ring.hpp"
#include <gtest/gtest.h>
#include <cstring>

using kxen::backends::ConsoleRing;

TEST(ConsoleRing, TakesWhatTheGuestWroteAcrossTheWrap) {
    xencons_interface page{};
    page.out_cons = page.out_prod = 2040;
    std::string msg = "hello, ring wrap";
    for (char ch : msg) page.out[MASK_XENCONS_IDX(page.out_prod++, page.out)] = ch;
    ConsoleRing r{&page};
    bool corrupt;
    EXPECT_EQ(r.take_output(corrupt), msg);
    EXPECT_FALSE(corrupt);
    EXPECT_EQ(page.out_cons, page.out_prod);
    EXPECT_EQ(r.take_output(corrupt), "");
}

TEST(ConsoleRing, HostileIndexesAreDroppedNotFollowed) {
    xencons_interface page{};
    page.out_cons = 0;
    page.out_prod = 0x7fffffff;   // claims far more than the ring holds
    ConsoleRing r{&page};
    bool corrupt;
    EXPECT_EQ(r.take_output(corrupt), "");
    EXPECT_TRUE(corrupt);
    EXPECT_EQ(page.out_cons, page.out_prod);   // resynchronised
    page.in_cons = 5000;
    page.in_prod = 10;                          // producer behind consumer by a lot
    EXPECT_EQ(r.put_input("abc"), 3u);
    EXPECT_EQ(page.in_prod, 5003u);
}

TEST(ConsoleRing, InputStopsWhenTheRingIsFull) {
    xencons_interface page{};
    ConsoleRing r{&page};
    std::string big(1500, 'x');
    EXPECT_EQ(r.put_input(big), sizeof page.in);
    EXPECT_EQ(r.put_input("more"), 0u);
    page.in_cons += 10;
    EXPECT_EQ(r.put_input("more"), 4u);
}
