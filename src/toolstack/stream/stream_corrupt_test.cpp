// Corrupt, truncated and hostile streams: each is refused with a message naming the record
// and its offset, and nothing crashes or allocates what the stream merely claims.
#include "toolstack/stream/sample.hpp"
#include "toolstack/stream/test_util.hpp"

#include <gtest/gtest.h>

namespace kxen::toolstack::stream {
namespace {

using test::B;
using test::Hand;
using test::context_blob;
using test::page_data_body;

std::string libxc_error(Hand const& h, ReadOptions opts = {}) {
    auto r = test::read_libxc(h.bytes, opts);
    return r ? "accepted" : r.error().message();
}
std::string libxl_error(Hand const& h, ReadOptions opts = {}) {
    auto r = test::read_libxl(h.bytes, opts);
    return r ? "accepted" : r.error().message();
}
std::string xl_error(std::vector<std::byte> const& bytes) {
    auto r = test::read_xl(bytes);
    return r ? "accepted" : r.error().message();
}

#define EXPECT_MSG(got, want) EXPECT_NE((got).find(want), std::string::npos) << (got)

// Offsets: image header 0-23, domain header 24-39, first record at 40.
Hand with_static_end() {
    Hand h;
    h.libxc_headers().rec(0x10, B{});   // STATIC_DATA_END at 40, next record at 48
    return h;
}

TEST(StreamCorrupt, PageDataCountAndLength) {
    Hand h = with_static_end();
    // count 3, but the body holds 4 pfn words and no data: 8 + 32 = 40 bytes.
    Hand body;
    body.le32(3).le32(0).le64(1).le64(2).le64(3).le64(4);
    h.rec(0x01, body.bytes);
    EXPECT_MSG(libxc_error(h), "libxc PAGE_DATA record at offset 48: count 3 does not match body length 40");

    Hand short_list = with_static_end();
    short_list.rec(0x01, B{5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_MSG(libxc_error(short_list), "PAGE_DATA record at offset 48: count 5 does not match body length 16");

    Hand zero = with_static_end();
    zero.rec(0x01, B(8, 0));
    EXPECT_MSG(libxc_error(zero), "PAGE_DATA record at offset 48: count is 0");

    Hand too_many = with_static_end();
    too_many.rec(0x01, page_data_body(std::vector<std::uint64_t>(1025, 0xfull << 60), 0, 0));
    EXPECT_MSG(libxc_error(too_many), "count 1025 exceeds the batch maximum 1024");

    Hand missing_page = with_static_end();
    missing_page.rec(0x01, page_data_body({1, 2}, 1, 0));
    EXPECT_MSG(libxc_error(missing_page), "count 2 does not match body length 4120: 2 pages with data need 8216 bytes");
}

TEST(StreamCorrupt, PageDataPfns) {
    Hand type5 = with_static_end();
    type5.rec(0x01, page_data_body({7 | 0x5ull << 60}, 0, 0));
    EXPECT_MSG(libxc_error(type5), "PAGE_DATA record at offset 48: pfn[0] 0x7 has invalid type 0x5");
    Hand type8 = with_static_end();
    type8.rec(0x01, page_data_body({0, 7 | 0x8ull << 60}, 1, 0));
    EXPECT_MSG(libxc_error(type8), "pfn[1] 0x7 has invalid type 0x8");
    Hand reserved = with_static_end();
    reserved.rec(0x01, page_data_body({7 | 1ull << 55}, 1, 0));
    EXPECT_MSG(libxc_error(reserved), "pfn[0] 0x0080000000000007 has reserved bits set");
    Hand beyond = with_static_end();
    beyond.rec(0x01, page_data_body({0x100}, 1, 0));
    EXPECT_MSG(libxc_error(beyond, {.pfn_limit = 0x100}), "pfn[0] 0x100 is beyond the domain's limit 0x100");
}

TEST(StreamCorrupt, OversizedLengthsRefusedBeforeReading) {
    // Only the record header is present: a reader that trusted the length would report
    // truncation (or allocate a GiB); the cap is checked first.
    for (std::uint32_t type : {0x01u, 0x09u, 0x0au, 0x11u, 0x12u}) {
        Hand h = with_static_end();
        h.le32(type).le32(1u << 30);
        EXPECT_MSG(libxc_error(h), fmt::format("record at offset 48: body length 1073741824 exceeds the maximum"));
    }
    Hand optional = with_static_end();
    optional.le32(0x80000001).le32(0xffffffff);
    EXPECT_MSG(libxc_error(optional), "optional type 0x80000001 record at offset 48: body length 4294967295 exceeds");

    Hand emu;
    emu.libxl_header().le32(3).le32(0xfffffff0);
    EXPECT_MSG(libxl_error(emu), "libxl EMULATOR_CONTEXT record at offset 16: body length 4294967280 exceeds the maximum");

    Hand tsc = with_static_end();
    tsc.rec(0x08, B(32, 0));
    EXPECT_MSG(libxc_error(tsc), "X86_TSC_INFO record at offset 48: body length 32 is not 24");
}

TEST(StreamCorrupt, UnknownAndUnsupportedRecords) {
    Hand unknown = with_static_end();
    unknown.rec(0x13, B{});
    EXPECT_MSG(libxc_error(unknown), "libxc mandatory type 0x00000013 record at offset 48: unknown mandatory record");
    Hand pv = with_static_end();
    pv.rec(0x02, B{8, 4, 0, 0, 0, 0, 0, 0});
    EXPECT_MSG(libxc_error(pv), "libxc X86_PV_INFO record at offset 48: a PV record in an x86 HVM stream");
    Hand toolstack = with_static_end();
    toolstack.rec(0x0b, B{1});
    EXPECT_MSG(libxc_error(toolstack), "TOOLSTACK record at offset 48");
    Hand libxl;
    libxl.libxl_header().rec(0x77, B{});
    EXPECT_MSG(libxl_error(libxl), "libxl mandatory type 0x00000077 record at offset 16: unknown mandatory record");
}

TEST(StreamCorrupt, BadHeaders) {
    auto libxc = [](std::size_t at, std::uint8_t v) {
        Hand h = with_static_end();
        h.rec(0x09, context_blob()).rec(0, B{});
        h.bytes[at] = std::byte(v);
        return libxc_error(h);
    };
    EXPECT_MSG(libxc(3, 0), "libxc image header at offset 0: marker 0xffffff00ffffffff is not 0xffffffffffffffff");
    EXPECT_MSG(libxc(8, 'Y'), "libxc image header at offset 0: id 0x59454e46 is not 0x58454e46");
    EXPECT_MSG(libxc(15, 4), "libxc image header at offset 0: version 4 is not 2 or 3");
    EXPECT_MSG(libxc(15, 1), "version 1 is not 2 or 3");
    EXPECT_MSG(libxc(17, 1), "libxc image header at offset 0: big-endian streams are not supported");
    EXPECT_MSG(libxc(16, 0x80), "reserved option bits 0x8000 are set");
    EXPECT_MSG(libxc(23, 1), "reserved fields are not zero");
    EXPECT_MSG(libxc(24, 1), "libxc domain header at offset 24: domain type 1 is not x86 HVM (2)");
    EXPECT_MSG(libxc(28, 13), "libxc domain header at offset 24: page shift 13 is not 12");
    EXPECT_MSG(libxc(30, 1), "libxc domain header at offset 24: reserved field is 0x1, not zero");

    auto libxl = [](std::size_t at, std::uint8_t v) {
        Hand h;
        h.libxl_header().rec(1, B{});
        h.bytes[at] = std::byte(v);
        return libxl_error(h);
    };
    EXPECT_MSG(libxl(0, 'l'), "libxl stream header at offset 0: ident 0x6c6962786c466d74 is not 0x4c6962786c466d74");
    EXPECT_MSG(libxl(11, 3), "libxl stream header at offset 0: version 3 is not 2");
    EXPECT_MSG(libxl(15, 1), "libxl stream header at offset 0: big-endian streams are not supported");
    EXPECT_MSG(libxl(14, 1), "reserved option bits 0x100 are set");

    auto sample = build_sample_stream({.pages = 1, .vcpus = 1});
    ASSERT_TRUE(sample);
    auto xl = [&](std::size_t at, std::uint8_t v) {
        auto copy = *sample;
        copy[at] = std::byte(v);
        return xl_error(copy);
    };
    EXPECT_MSG(xl(0, 'x'), "xl save-file header at offset 0: bad magic: not an xl save file");
    auto big_endian = *sample;
    for (std::size_t i = 0; i < 4; ++i) big_endian[32 + i] = std::byte(i + 1);
    EXPECT_MSG(xl_error(big_endian), "xl save-file header at offset 0: the save file is big-endian");
    EXPECT_MSG(xl(33, 9), "byte-order marker 0x01020904 is not 0x01020304");
    EXPECT_MSG(xl(36, 7), "xl save-file header at offset 0: unknown mandatory flags 0x4");
    EXPECT_MSG(xl(36, 1), "no STREAMv2 flag: a legacy (pre-Xen 4.6) save file, not supported");
    std::uint32_t optlen = le32(*sample, 44);
    EXPECT_MSG(xl(47, 0x7f), fmt::format("optional data length {} exceeds the maximum 16777216", optlen | 0x7f000000));
    EXPECT_MSG(xl(51, 0x10), fmt::format("config length {} exceeds the {} bytes of optional data",
                                         le32(*sample, 48) | 0x10000000, optlen - 4));
}

TEST(StreamCorrupt, PaddingMustBeZero) {
    Hand p;
    p.libxc_headers().rec(0x11, B(24, 0)).rec(0x80000005, B{1, 2, 3});   // optional: skipped, padding not read
    p.bytes.back() = std::byte{1};
    p.rec(0x10, B{}).rec(0x09, context_blob()).rec(0, B{});
    EXPECT_EQ(libxc_error(p), "accepted");
    Hand h;
    h.libxc_headers().rec(0x11, B(20, 0));
    h.bytes.back() = std::byte{1};
    EXPECT_MSG(libxc_error(h), "libxc X86_CPUID_POLICY record at offset 40: padding after the 20-byte body is not zero");
    Hand q;
    q.libxl_header().rec(2, B{0, 0, 0, 0, 0, 0, 0, 0, 'k', 0, 'v', 0});
    q.bytes.back() = std::byte{1};
    EXPECT_MSG(libxl_error(q), "libxl EMULATOR_XENSTORE_DATA record at offset 16: padding after the 12-byte body is not zero");
}

TEST(StreamCorrupt, RecordOrderAndDuplicates) {
    Hand pages_first;
    pages_first.libxc_headers().rec(0x01, page_data_body({1}, 1, 0));
    EXPECT_MSG(libxc_error(pages_first), "libxc PAGE_DATA record at offset 40: PAGE_DATA before STATIC_DATA_END");

    Hand sde_v2;
    sde_v2.libxc_headers(2).rec(0x10, B{});
    EXPECT_MSG(libxc_error(sde_v2), "STATIC_DATA_END record at offset 40: STATIC_DATA_END in a version 2 stream");

    Hand cpuid_v2;
    cpuid_v2.libxc_headers(2).rec(0x11, B(24, 0));
    EXPECT_MSG(libxc_error(cpuid_v2), "X86_CPUID_POLICY record at offset 40: CPU policy records need a version 3 stream");

    Hand two_sde = with_static_end();
    two_sde.rec(0x10, B{});
    EXPECT_MSG(libxc_error(two_sde), "STATIC_DATA_END record at offset 48: a second STATIC_DATA_END record");

    Hand late_cpuid = with_static_end();
    late_cpuid.rec(0x11, B(24, 0));
    EXPECT_MSG(libxc_error(late_cpuid), "X86_CPUID_POLICY record at offset 48: CPU policy after STATIC_DATA_END");

    Hand two_msr;
    two_msr.libxc_headers().rec(0x12, B(16, 0)).rec(0x12, B(16, 0));
    EXPECT_MSG(libxc_error(two_msr), "X86_MSR_POLICY record at offset 64: a second record of this type");

    Hand two_ctx = with_static_end();
    two_ctx.rec(0x09, context_blob()).rec(0x09, context_blob());
    EXPECT_MSG(libxc_error(two_ctx), "HVM_CONTEXT record at offset 96: a second HVM_CONTEXT record in one checkpoint");

    Hand no_ctx = with_static_end();
    no_ctx.rec(0, B{});
    EXPECT_MSG(libxc_error(no_ctx), "libxc END record at offset 48: no HVM_CONTEXT record before END");

    Hand no_sde;
    no_sde.libxc_headers().rec(0x09, context_blob()).rec(0, B{});
    EXPECT_MSG(libxc_error(no_sde), "libxc END record at offset 88: no STATIC_DATA_END record before END");

    Hand end_len = with_static_end();
    end_len.rec(0, B{0});
    EXPECT_MSG(libxc_error(end_len), "libxc END record at offset 48: body length 1 is not 0");

    Hand msr_flags;
    msr_flags.libxc_headers().rec(0x12, B{0xce, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_MSG(libxc_error(msr_flags), "MSR 0xce: reserved flags 0x1 are not zero");

    Hand params = with_static_end();
    params.rec(0x0a, B{2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_MSG(libxc_error(params), "HVM_PARAMS record at offset 48: count 2 does not match body length 24");
}

TEST(StreamCorrupt, LibxlRecordRules) {
    Hand end_first;
    end_first.libxl_header().rec(0, B{});
    EXPECT_MSG(libxl_error(end_first), "libxl END record at offset 16: no LIBXC_CONTEXT record before END");

    Hand stray_end;
    stray_end.libxl_header().rec(4, B{});
    EXPECT_MSG(libxl_error(stray_end), "libxl CHECKPOINT_END record at offset 16: CHECKPOINT_END outside a checkpoint");

    Hand state;
    state.libxl_header().rec(5, B{1, 0, 0, 0});
    EXPECT_MSG(libxl_error(state), "CHECKPOINT_STATE in a stream that is not checkpointed");
    Hand bad_state;
    bad_state.libxl_header().rec(5, B{9, 0, 0, 0});
    EXPECT_MSG(libxl_error(bad_state, {.checkpointed = true}), "CHECKPOINT_STATE record at offset 16: unknown checkpoint state 9");

    Hand emu_id;
    emu_id.libxl_header().rec(3, B{7, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_MSG(libxl_error(emu_id), "libxl EMULATOR_CONTEXT record at offset 16: unknown emulator id 7");
    Hand emu_short;
    emu_short.libxl_header().rec(2, B{1, 0, 0, 0});
    EXPECT_MSG(libxl_error(emu_short), "body length 4 is too short for the 8-byte emulator header");
    Hand no_nul;
    no_nul.libxl_header().rec(2, B{1, 0, 0, 0, 0, 0, 0, 0, 'k', 0, 'v'});
    EXPECT_MSG(libxl_error(no_nul), "EMULATOR_XENSTORE_DATA record at offset 16: value at byte 2 is not NUL-terminated");
    Hand absolute;
    absolute.libxl_header().rec(2, B{1, 0, 0, 0, 0, 0, 0, 0, '/', 'k', 0, 'v', 0});
    EXPECT_MSG(libxl_error(absolute), "key '/k' is not relative");
    Hand empty_key;
    empty_key.libxl_header().rec(2, B{1, 0, 0, 0, 0, 0, 0, 0, 0, 'v', 0});
    EXPECT_MSG(libxl_error(empty_key), "empty key");

    Hand two_ctx;
    two_ctx.libxl_header().rec(1, B{});
    two_ctx.libxc_headers().rec(0x10, B{}).rec(0x09, context_blob()).rec(0, B{});
    two_ctx.rec(1, B{});
    EXPECT_MSG(libxl_error(two_ctx), "libxl LIBXC_CONTEXT record at offset 128: a second LIBXC_CONTEXT record");

    Hand end_in_checkpoint;
    end_in_checkpoint.libxl_header().rec(1, B{});
    end_in_checkpoint.libxc_headers().rec(0x10, B{}).rec(0x09, context_blob()).rec(0x0e, B{});
    end_in_checkpoint.rec(0, B{});
    EXPECT_MSG(libxl_error(end_in_checkpoint, {.checkpointed = true}),
               "libxl END record at offset 128: END inside a checkpoint, before CHECKPOINT_END");
}

TEST(StreamCorrupt, HvmContextCheckedInTheStream) {
    auto blob = context_blob();
    blob[8] = 0;   // HEADER magic
    Hand h = with_static_end();
    h.rec(0x09, blob).rec(0, B{});
    EXPECT_MSG(libxc_error(h), "hvm context HEADER entry (instance 0) at offset 56: magic 0x54381200 is not 0x54381286");
    EXPECT_EQ(libxc_error(h, {.check_hvm_context = false}), "accepted");
}

TEST(StreamCorrupt, DataAfterTheEnd) {
    auto sample = build_sample_stream({.pages = 1, .vcpus = 1});
    ASSERT_TRUE(sample);
    auto copy = *sample;
    copy.push_back(std::byte{0});
    EXPECT_MSG(xl_error(copy), fmt::format("xl save file at offset {}: data after the libxl END record", sample->size()));
}

// Cut anywhere, a save file is refused; cut at a record boundary, the message says so.
TEST(StreamCorrupt, EveryTruncationRefused) {
    auto sample = build_sample_stream({.pages = 1, .vcpus = 1});
    ASSERT_TRUE(sample);
    ASSERT_EQ(xl_error(*sample), "accepted");
    int boundaries = 0;
    for (std::size_t n = 0; n < sample->size(); ++n) {
        std::vector<std::byte> cut(sample->begin(), sample->begin() + std::ptrdiff_t(n));
        auto msg = xl_error(cut);
        ASSERT_NE(msg, "accepted") << "cut at " << n;
        EXPECT_MSG(msg, "truncated");
        if (msg.find("record header at offset " + std::to_string(n) + ": truncated: stream ends after 0 of 8") !=
            std::string::npos)
            ++boundaries;
    }
    // LIBXC_CONTEXT, CPUID, MSR, STATIC_DATA_END, PAGE_DATA, TSC, HVM_CONTEXT, HVM_PARAMS,
    // libxc END, libxl END: each record header follows a boundary.
    EXPECT_EQ(boundaries, 10);
}

// Flip each byte of a small save file in turn: always a clean refusal or a valid parse.
TEST(StreamCorrupt, EveryByteFlipped) {
    auto sample = build_sample_stream({.pages = 1, .vcpus = 1});
    ASSERT_TRUE(sample);
    std::size_t accepted = 0, refused = 0;
    for (std::size_t i = 0; i < sample->size(); ++i) {
        for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
            auto copy = *sample;
            copy[i] ^= std::byte(mask);
            auto r = test::read_xl(copy);
            if (r) {
                ++accepted;
                continue;
            }
            ++refused;
            auto const& e = r.error();
            ASSERT_TRUE(e.layer == "xl" || e.layer == "libxl" || e.layer == "libxc" ||
                        e.layer == "hvm context") << e.message();
            ASSERT_FALSE(e.what.empty());
            ASSERT_FALSE(e.detail.empty());
            ASSERT_LE(e.offset, sample->size());
        }
    }
    // Page contents, config text, HVM context and register values may change freely.
    EXPECT_GT(accepted, 0u);
    EXPECT_GT(refused, 500u);
}

} // namespace
} // namespace kxen::toolstack::stream
