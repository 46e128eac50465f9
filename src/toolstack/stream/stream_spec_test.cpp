// Streams built by hand from the specs (libxc-migration-stream.pandoc,
// libxl-migration-stream.pandoc) and from what Xen 4.17 writes, not from our writer.
#include "toolstack/stream/test_util.hpp"

#include <gtest/gtest.h>

namespace kxen::toolstack::stream {
namespace {

using test::all_of;
using test::B;
using test::Hand;
using test::context_blob;
using test::page_data_body;

TEST(StreamSpec, HeadersFromTheSpec) {
    Hand h;
    h.libxc_headers().rec(0x10, B{}).rec(0x09, context_blob()).rec(0x00, B{});
    auto c = test::read_libxc(h.bytes);
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c->libxc_header->version, 3u);
    EXPECT_EQ(c->libxc_header->type, DomainType::x86_hvm);
    EXPECT_EQ(c->libxc_header->page_shift, 12);
    EXPECT_EQ(c->libxc_header->xen_major, 4u);
    EXPECT_EQ(c->libxc_header->xen_minor, 17u);
    ASSERT_EQ(c->libxc.size(), 3u);
    EXPECT_EQ(all_of<HvmContextRecord>(c->libxc).at(0).blob.size(), 40u);
}

TEST(StreamSpec, PageDataWithAndWithoutData) {
    // NOTAB pfn 5, XTAB pfn 6 (no data), L1TAB pfn 7, BROKEN pfn 8 (no data), XALLOC pfn 9 (no data).
    std::vector<std::uint64_t> words{5, 6 | 0xfull << 60, 7 | 0x1ull << 60, 8 | 0xdull << 60, 9 | 0xeull << 60};
    Hand h;
    h.libxc_headers().rec(0x10, B{}).rec(0x01, page_data_body(words, 2, 0x77))
        .rec(0x01, page_data_body({0x20 | 0xfull << 60}, 0, 0)).rec(0x09, context_blob()).rec(0, B{});
    auto c = test::read_libxc(h.bytes);
    ASSERT_TRUE(c) << c.error().message();
    auto pd = all_of<PageDataRecord>(c->libxc);
    ASSERT_EQ(pd.size(), 2u);
    ASSERT_EQ(pd[0].pages.size(), 5u);
    EXPECT_EQ(pd[0].pages[1], (PageEntry{6, PageType::xtab}));
    EXPECT_EQ(pd[0].pages[2], (PageEntry{7, PageType::l1tab}));
    EXPECT_EQ(pd[0].data.size(), 2 * page_size);
    EXPECT_EQ(pd[0].data.back(), std::byte{0x77});
    EXPECT_TRUE(pd[1].data.empty());
}

TEST(StreamSpec, Version2StreamWithoutStaticDataEnd) {
    // Xen 4.6..4.13 wrote version 2: no STATIC_DATA_END, no CPU policy records.
    Hand h;
    h.libxc_headers(2).rec(0x01, page_data_body({0}, 1, 1)).rec(0x08, B(24, 0)).rec(0x09, context_blob())
        .rec(0x0a, B{0, 0, 0, 0, 0, 0, 0, 0}).rec(0, B{});
    auto c = test::read_libxc(h.bytes);
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c->libxc_header->version, 2u);
    EXPECT_EQ(all_of<PageDataRecord>(c->libxc).size(), 1u);
}

TEST(StreamSpec, TscInfoModes) {
    for (std::uint32_t mode : {0u, 1u, 2u, 3u}) {
        Hand body;
        body.le32(mode).le32(2'100'000).le64(987654321).le32(mode * 3).le32(0);
        Hand h;
        h.libxc_headers().rec(0x10, B{}).rec(0x08, body.bytes).rec(0x09, context_blob()).rec(0, B{});
        auto c = test::read_libxc(h.bytes);
        ASSERT_TRUE(c) << c.error().message();
        EXPECT_EQ(all_of<TscInfoRecord>(c->libxc).at(0),
                  (TscInfoRecord{mode, 2'100'000, 987654321, mode * 3}));
    }
}

TEST(StreamSpec, XenOrderParamsAfterContextAndUnknownParams) {
    // Xen 4.17 writes TSC_INFO, HVM_CONTEXT, then HVM_PARAMS; params the reader does not know
    // are passed on, not refused. An empty HVM_PARAMS is tolerated, as Xen does.
    Hand params;
    params.le32(3).le32(0).le64(1).le64(0xfeff1).le64(35).le64(1).le64(0x1234).le64(5);
    Hand h;
    h.libxc_headers().rec(0x10, B{}).rec(0x08, B(24, 0)).rec(0x09, context_blob()).rec(0x0a, params.bytes).rec(0, B{});
    auto c = test::read_libxc(h.bytes);
    ASSERT_TRUE(c) << c.error().message();
    auto p = all_of<HvmParamsRecord>(c->libxc).at(0).params;
    ASSERT_EQ(p.size(), 3u);
    EXPECT_EQ(p[2], (HvmParam{0x1234, 5}));

    Hand empty;
    empty.libxc_headers().rec(0x10, B{}).rec(0x0a, B(8, 0)).rec(0x09, context_blob()).rec(0, B{});
    EXPECT_TRUE(test::read_libxc(empty.bytes));
}

TEST(StreamSpec, OptionalRecordsAreSkipped) {
    Hand h;
    h.libxc_headers().rec(0x80000123, B{1, 2, 3, 4, 5}).rec(0x10, B{}).rec(0xffffffff, B(4096, 9))
        .rec(0x09, context_blob()).rec(0, B{});
    auto c = test::read_libxc(h.bytes);
    ASSERT_TRUE(c) << c.error().message();
    auto opt = all_of<OptionalRecord>(c->libxc);
    ASSERT_EQ(opt.size(), 2u);
    EXPECT_EQ(opt[0].type, 0x80000123u);
    EXPECT_EQ(opt[0].length, 5u);
    EXPECT_EQ(opt[1].length, 4096u);
}

TEST(StreamSpec, VerifyThenPagesAgain) {
    Hand h;
    h.libxc_headers().rec(0x10, B{}).rec(0x01, page_data_body({3}, 1, 1)).rec(0x0d, B{})
        .rec(0x01, page_data_body({3}, 1, 1)).rec(0x09, context_blob()).rec(0, B{});
    auto c = test::read_libxc(h.bytes);
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(all_of<VerifyRecord>(c->libxc).size(), 1u);
    EXPECT_EQ(all_of<PageDataRecord>(c->libxc).size(), 2u);
}

TEST(StreamSpec, CheckpointedLibxlStream) {
    // libxl: header, LIBXC_CONTEXT, libxc ... CHECKPOINT, libxl EMULATOR_CONTEXT +
    // CHECKPOINT_END, libxc again ... END, libxl END.
    Hand h;
    h.libxl_header().rec(1, B{});
    h.libxc_headers().rec(0x10, B{}).rec(0x01, page_data_body({1}, 1, 1)).rec(0x09, context_blob()).rec(0x0e, B{});
    h.rec(3, B{2, 0, 0, 0, 0, 0, 0, 0, 'Q', 'E', 'V', 'M'}).rec(4, B{});
    h.rec(0x01, page_data_body({1}, 1, 2)).rec(0x09, context_blob()).rec(0, B{});
    h.rec(0, B{});
    auto c = test::read_libxl(h.bytes, {.checkpointed = true});
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c->libxl.size(), 4u);
    EXPECT_EQ(std::get<EmulatorContextRecord>(c->libxl[1]).blob.size(), 4u);
    EXPECT_EQ(all_of<CheckpointRecord>(c->libxc).size(), 1u);
    EXPECT_EQ(all_of<HvmContextRecord>(c->libxc).size(), 2u);

    auto plain = test::read_libxl(h.bytes);
    ASSERT_FALSE(plain);
    EXPECT_NE(plain.error().message().find("CHECKPOINT record at offset"), std::string::npos);
    EXPECT_NE(plain.error().message().find("not checkpointed"), std::string::npos);
}

TEST(StreamSpec, EmulatorXenstoreDataForEachEmulatorId) {
    for (std::uint8_t id : {0, 1, 2}) {
        Hand h;
        h.libxl_header().rec(1, B{});
        h.libxc_headers().rec(0x10, B{}).rec(0x09, context_blob()).rec(0, B{});
        B xs{id, 0, 0, 0, 0, 0, 0, 0};
        for (char ch : std::string_view{"physmap/1/name\0vga\0k\0\0", 22}) xs.push_back(std::uint8_t(ch));
        h.rec(2, xs).rec(2, B{id, 0, 0, 0, 1, 0, 0, 0}).rec(0, B{});
        auto c = test::read_libxl(h.bytes);
        ASSERT_TRUE(c) << c.error().message();
        auto const& r = std::get<EmulatorXenstoreDataRecord>(c->libxl[1]);
        EXPECT_EQ(std::uint32_t(r.emulator), id);
        ASSERT_EQ(r.entries.size(), 2u);
        EXPECT_EQ(r.entries[0], (std::pair<std::string, std::string>{"physmap/1/name", "vga"}));
        EXPECT_EQ(r.entries[1], (std::pair<std::string, std::string>{"k", ""}));
        EXPECT_TRUE(std::get<EmulatorXenstoreDataRecord>(c->libxl[2]).entries.empty());
        EXPECT_EQ(std::get<EmulatorXenstoreDataRecord>(c->libxl[2]).index, 1u);
    }
}

TEST(StreamSpec, LegacyConvertedLibxlStream) {
    Hand h;
    h.libxl_header(2).rec(1, B{});
    h.libxc_headers(2).rec(0x09, context_blob()).rec(0, B{});
    h.rec(0, B{});
    EXPECT_TRUE(test::read_libxl(h.bytes));
}

TEST(StreamSpec, XlSaveFileAsXlWritesIt) {
    std::string json = R"({"c_info":{"name":"d"}})";
    Hand h;
    h.raw(B{'X', 'e', 'n', ' ', 's', 'a', 'v', 'e', 'd', ' ', 'd', 'o', 'm', 'a', 'i', 'n', ',', ' ',
            'x', 'l', ' ', 'f', 'o', 'r', 'm', 'a', 't', '\n', ' ', 0, ' ', '\r'});
    h.raw({4, 3, 2, 1}).le32(3).le32(0).le32(std::uint32_t(4 + json.size() + 1)).le32(std::uint32_t(json.size() + 1));
    for (char ch : json) h.raw({std::uint8_t(ch)});
    h.raw({0});
    h.libxl_header().rec(1, B{});
    h.libxc_headers().rec(0x10, B{}).rec(0x09, context_blob()).rec(0, B{});
    h.rec(0, B{});
    auto c = test::read_xl(h.bytes);
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c->xl->config, json);
    EXPECT_TRUE(c->xl->json());
}

} // namespace
} // namespace kxen::toolstack::stream
