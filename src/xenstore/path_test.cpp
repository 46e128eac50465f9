#include <gtest/gtest.h>
#include "xenstore/path.hpp"
#include "xenstore/wire.hpp"

namespace kxen::xenstore {
namespace {

constexpr std::size_t max = XENSTORE_REL_PATH_MAX;

TEST(Path, RelativeNamesGoUnderTheDomainPath) {
    EXPECT_EQ(canonicalize("device/vif", "/local/domain/5", false, max).value(),
              "/local/domain/5/device/vif");
    EXPECT_EQ(canonicalize("/tool", "/local/domain/5", false, max).value(), "/tool");
    EXPECT_EQ(canonicalize("/", "/local/domain/0", false, max).value(), "/");
}

TEST(Path, RejectsWhatXenRejects) {
    for (auto bad : {"", "/a/", "/a//b", "a b", "/a\xff", "/a.b", "/a:b"})
        EXPECT_EQ(canonicalize(bad, "/local/domain/0", false, max).error(), XsErr::inval) << bad;
}

TEST(Path, SpecialNamesOnlyWhereAllowed) {
    EXPECT_EQ(canonicalize("@releaseDomain", "/local/domain/0", false, max).error(), XsErr::inval);
    EXPECT_EQ(canonicalize("@releaseDomain", "/local/domain/0", true, max).value(), "@releaseDomain");
}

TEST(Path, LengthCountsFromTheDomainDirectory) {
    std::string rel(20, 'x');
    EXPECT_TRUE(canonicalize("/local/domain/7/" + rel, "", false, 20));
    EXPECT_FALSE(canonicalize("/local/domain/7/" + rel + "y", "", false, 20));
    EXPECT_TRUE(canonicalize(rel, "/local/domain/12345", false, 20));   // relative: same rule
    EXPECT_FALSE(canonicalize("/other/" + rel, "", false, 20));          // elsewhere: the whole path
}

TEST(Path, ParentBasenameAndChild) {
    EXPECT_EQ(parent_of("/a/b/c"), "/a/b");
    EXPECT_EQ(parent_of("/a"), "/");
    EXPECT_EQ(parent_of("/"), "/");
    EXPECT_EQ(basename_of("/a/b"), "b");
    EXPECT_EQ(child_path("/", "a"), "/a");
    EXPECT_EQ(child_path("/a", "b"), "/a/b");
    EXPECT_TRUE(is_child("/a/b", "/a"));
    EXPECT_TRUE(is_child("/a", "/a"));
    EXPECT_TRUE(is_child("/anything", "/"));
    EXPECT_FALSE(is_child("/ab", "/a"));
    EXPECT_FALSE(is_child("/a", "/a/b"));
}

} // namespace
} // namespace kxen::xenstore
