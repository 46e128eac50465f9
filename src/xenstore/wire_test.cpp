#include <gtest/gtest.h>
#include <array>
#include "xenstore/errors.hpp"
#include "xenstore/wire.hpp"

namespace kxen::xenstore {
namespace {

TEST(Wire, OneArgNeedsExactlyOneTrailingNul) {
    EXPECT_EQ(one_arg(std::string_view{"abc\0", 4}).value(), "abc");
    EXPECT_FALSE(one_arg("abc"));
    EXPECT_FALSE(one_arg(std::string_view{"a\0b\0", 4}));
    EXPECT_FALSE(one_arg(""));
    EXPECT_EQ(one_arg(std::string_view{"\0", 1}).value(), "");
}

TEST(Wire, GetStringsCountsOnlyTerminatedStrings) {
    std::array<std::string_view, 2> v;
    EXPECT_EQ(get_strings(std::string_view{"a\0bc\0tail", 9}, v), 2u);
    EXPECT_EQ(v[0], "a");
    EXPECT_EQ(v[1], "bc");
    EXPECT_EQ(get_strings(std::string_view{"a\0b\0c\0", 6}, v), 3u);
    EXPECT_EQ(get_strings("none", v), 0u);
    EXPECT_EQ(count_strings(std::string_view{"\0\0x\0", 4}), 3u);
}

TEST(Wire, EncodeDecode) {
    std::string out;
    encode(out, XS_READ, 7, 3, std::string_view{"/a\0", 3});
    ASSERT_EQ(out.size(), header_size + 3);
    auto h = decode_header(out.data());
    EXPECT_EQ(h.type, unsigned{XS_READ});
    EXPECT_EQ(h.req_id, 7u);
    EXPECT_EQ(h.tx_id, 3u);
    EXPECT_EQ(h.len, 3u);
    EXPECT_EQ(type_name(XS_DIRECTORY_PART), "DIRECTORY_PART");
    EXPECT_EQ(type_name(999), "UNKNOWN");
}

TEST(Wire, ErrorNamesComeFromXensTable) {
    EXPECT_EQ(xs_err_name(XsErr::noent), "ENOENT");
    EXPECT_EQ(xs_err_name(XsErr::again), "EAGAIN");
    EXPECT_EQ(xs_err_name(XsErr::e2big), "E2BIG");
    EXPECT_EQ(xs_err_name(static_cast<XsErr>(EBADF)), "EINVAL");   // not in the table
    EXPECT_EQ(xs_err_from_name("EACCES"), XsErr::acces);
}

} // namespace
} // namespace kxen::xenstore
