#include <gtest/gtest.h>
#include "xenstore/perms.hpp"

namespace kxen::xenstore {
namespace {

Perms parse(std::string_view s, std::size_t n) { return parse_perms(s, n).value(); }

TEST(Perms, ParseAndFormatRoundTrip) {
    std::string_view wire{"n5\0r0\0w7\0b12\0", 13};
    auto p = parse(wire, 4);
    ASSERT_EQ(p.size(), 4u);
    EXPECT_EQ(p[0], (Perm{5, XS_PERM_NONE}));
    EXPECT_EQ(p[1], (Perm{0, XS_PERM_READ}));
    EXPECT_EQ(p[2], (Perm{7, XS_PERM_WRITE}));
    EXPECT_EQ(p[3], (Perm{12, XS_PERM_READ | XS_PERM_WRITE}));
    EXPECT_EQ(format_perms(p), wire);
}

TEST(Perms, ParseRejectsGarbage) {
    EXPECT_FALSE(parse_perms(std::string_view{"x5\0", 3}, 1));    // unknown letter
    EXPECT_FALSE(parse_perms(std::string_view{"r\0", 2}, 1));     // no domid
    EXPECT_FALSE(parse_perms(std::string_view{"r5x\0", 4}, 1));   // trailing junk
    EXPECT_FALSE(parse_perms(std::string_view{"r5\0", 3}, 2));    // fewer than announced
    EXPECT_EQ(parse(std::string_view{"r0x10\0", 6}, 1)[0].id, 16u);   // strtol(..., 0), like Xen
}

TEST(Perms, OwnerAndPrivilegedGetEverything) {
    Perms p{{5, XS_PERM_NONE}};
    unsigned all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    EXPECT_EQ(perm_for(Identity{5, false, {}}, p), all);
    EXPECT_EQ(perm_for(Identity{0, true, {}}, p), all);
    EXPECT_EQ(perm_for(Identity{6, false, {}}, p), 0u);
}

TEST(Perms, FirstEntryIsTheDefaultAndLaterEntriesAreExceptions) {
    Perms p{{5, XS_PERM_READ}, {7, XS_PERM_WRITE}, {8, XS_PERM_NONE}};
    EXPECT_EQ(perm_for(Identity{6, false, {}}, p), unsigned{XS_PERM_READ});
    EXPECT_EQ(perm_for(Identity{7, false, {}}, p), unsigned{XS_PERM_WRITE});
    EXPECT_EQ(perm_for(Identity{8, false, {}}, p), 0u);
}

TEST(Perms, TargetActsForItsGuestAndIgnoredEntriesDoNot) {
    Perms p{{5, XS_PERM_NONE}, {9, XS_PERM_READ | XS_PERM_IGNORE}};
    EXPECT_EQ(perm_for(Identity{20, false, DomId{5}}, p),
              unsigned{XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER});
    EXPECT_EQ(perm_for(Identity{9, false, {}}, p), 0u);
}

} // namespace
} // namespace kxen::xenstore
