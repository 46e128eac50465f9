// Writer -> reader: each record type, the xl header, and the whole sample save file.
#include "toolstack/stream/hvm_context.hpp"
#include "toolstack/stream/sample.hpp"
#include "toolstack/stream/test_util.hpp"
#include "toolstack/stream/writer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <unistd.h>

namespace kxen::toolstack::stream {
namespace {

using test::all_of;

std::vector<std::byte> minimal_context() {
    auto blob = HvmContextBuilder{hvm_save_header{}}.add_cpu(0, hvm_hw_cpu{}).finish();
    EXPECT_TRUE(blob);
    return *blob;
}

// A libxc stream: header, STATIC_DATA_END, what `body` writes, HVM_CONTEXT, END.
template <typename F> std::vector<std::byte> libxc_with(F body, bool context = true) {
    std::vector<std::byte> out;
    StreamOutput o{vector_sink(out)};
    LibxcWriter w{o};
    EXPECT_TRUE(w.header());
    EXPECT_TRUE(w.static_data_end());
    body(w);
    if (context) {
        EXPECT_TRUE(w.hvm_context(minimal_context()));
    }
    EXPECT_TRUE(w.end());
    return out;
}

TEST(StreamRoundTrip, PageData) {
    std::vector<PageEntry> pages{{0x10, PageType::notab}, {0x11, PageType::xtab}, {0x12, PageType::broken},
                                 {0x13, PageType::xalloc}, {0x14, PageType::l1tab}, {0xfffff, PageType::notab}};
    std::vector<std::byte> data(3 * page_size);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte(i / page_size + 1);
    auto bytes = libxc_with([&](LibxcWriter& w) { ASSERT_TRUE(w.page_data(pages, data)); });
    auto c = test::read_libxc(bytes);
    ASSERT_TRUE(c) << c.error().message();
    auto pd = all_of<PageDataRecord>(c->libxc);
    ASSERT_EQ(pd.size(), 1u);
    EXPECT_EQ(pd[0].pages, pages);
    EXPECT_EQ(pd[0].data, data);
}

TEST(StreamRoundTrip, FixedRecords) {
    TscInfoRecord tsc{.mode = 2, .khz = 3'000'000, .nsec = 0x1122334455667788ull, .incarnation = 7};
    std::vector<HvmParam> params{{1, 0xfeff1}, {17, 0xfeff0}, {0x7fff, 42}};
    auto bytes = libxc_with([&](LibxcWriter& w) {
        ASSERT_TRUE(w.tsc_info(tsc));
        ASSERT_TRUE(w.hvm_params(params));
        ASSERT_TRUE(w.verify());
    });
    auto c = test::read_libxc(bytes);
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_EQ(all_of<TscInfoRecord>(c->libxc).size(), 1u);
    EXPECT_EQ(all_of<TscInfoRecord>(c->libxc)[0], tsc);
    EXPECT_EQ(all_of<HvmParamsRecord>(c->libxc).at(0).params, params);
    EXPECT_EQ(all_of<VerifyRecord>(c->libxc).size(), 1u);
    EXPECT_EQ(all_of<HvmContextRecord>(c->libxc).at(0).blob, minimal_context());
    EXPECT_TRUE(std::holds_alternative<EndRecord>(c->libxc.back()));
}

TEST(StreamRoundTrip, CpuPolicy) {
    std::vector<CpuidLeaf> leaves{{0, cpuid_no_subleaf, 0xd, 1, 2, 3}, {7, 0, 0, 0x9c4fbb, 0, 0}};
    std::vector<MsrEntry> msrs{{0xce, 0x80000000}, {0x10a, 0x1}};
    std::vector<std::byte> out;
    StreamOutput o{vector_sink(out)};
    LibxcWriter w{o};
    ASSERT_TRUE(w.header());
    ASSERT_TRUE(w.cpuid_policy(leaves));
    ASSERT_TRUE(w.msr_policy(msrs));
    ASSERT_TRUE(w.static_data_end());
    ASSERT_TRUE(w.hvm_context(minimal_context()));
    ASSERT_TRUE(w.end());
    auto c = test::read_libxc(out);
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(all_of<CpuidPolicyRecord>(c->libxc).at(0).leaves, leaves);
    EXPECT_EQ(all_of<MsrPolicyRecord>(c->libxc).at(0).msrs, msrs);
    EXPECT_EQ(c->libxc_header->version, 3u);
    EXPECT_EQ(c->libxc_header->xen_major, 4u);
    EXPECT_EQ(c->libxc_header->xen_minor, 17u);
}

TEST(StreamRoundTrip, Checkpoints) {
    // A Remus-style libxl stream: the libxc stream stops at CHECKPOINT for libxl's records.
    std::vector<std::byte> out;
    StreamOutput o{vector_sink(out)};
    LibxlWriter xl{o};
    LibxcWriter xc{o};
    ASSERT_TRUE(xl.header());
    ASSERT_TRUE(xl.libxc_context());
    ASSERT_TRUE(xc.header());
    ASSERT_TRUE(xc.static_data_end());
    for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(xc.hvm_context(minimal_context()));
        ASSERT_TRUE(xc.checkpoint());
        ASSERT_TRUE(xl.emulator_context(EmulatorId::qemu_upstream, 0, std::vector<std::byte>(13, std::byte{1})));
        ASSERT_TRUE(xl.checkpoint_end());
    }
    ASSERT_TRUE(xc.hvm_context(minimal_context()));
    ASSERT_TRUE(xc.end());
    ASSERT_TRUE(xl.end());
    EXPECT_FALSE(test::read_libxl(out));   // not without the checkpointed option
    auto c = test::read_libxl(out, {.checkpointed = true});
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(all_of<CheckpointRecord>(c->libxc).size(), 2u);
    EXPECT_EQ(all_of<HvmContextRecord>(c->libxc).size(), 3u);
    ASSERT_EQ(c->libxl.size(), 6u);   // LIBXC_CONTEXT, 2 x (EMULATOR_CONTEXT, CHECKPOINT_END), END
    auto const& emu = std::get<EmulatorContextRecord>(c->libxl[1]);
    EXPECT_EQ(emu.blob.size(), 13u);
    EXPECT_TRUE(std::holds_alternative<CheckpointEndRecord>(c->libxl[2]));
}

TEST(StreamRoundTrip, LibxlRecords) {
    std::vector<std::byte> out;
    StreamOutput o{vector_sink(out)};
    LibxlWriter xl{o};
    ASSERT_TRUE(xl.header());
    ASSERT_TRUE(xl.libxc_context());
    auto libxc = libxc_with([](LibxcWriter&) {});
    out.insert(out.end(), libxc.begin(), libxc.end());
    StreamOutput o2{vector_sink(out), out.size()};
    LibxlWriter xl2{o2};
    EmulatorXenstoreDataRecord xs{EmulatorId::qemu_traditional, 0, {{"physmap/1/start_addr", "f0000000"}, {"empty", ""}}};
    ASSERT_TRUE(xl2.emulator_xenstore_data(xs));
    ASSERT_TRUE(xl2.checkpoint_state(2));
    ASSERT_TRUE(xl2.end());
    EXPECT_FALSE(test::read_libxl(out));   // CHECKPOINT_STATE needs a checkpointed stream
    auto c = test::read_libxl(out, {.checkpointed = true});
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_EQ(c->libxl.size(), 4u);
    auto const& got = std::get<EmulatorXenstoreDataRecord>(c->libxl[1]);
    EXPECT_EQ(got.emulator, EmulatorId::qemu_traditional);
    EXPECT_EQ(got.entries, xs.entries);
    EXPECT_EQ(std::get<CheckpointStateRecord>(c->libxl[2]).id, 2u);
}

TEST(StreamRoundTrip, XlHeaders) {
    for (auto hdr : {XlHeader{xl_flag_streamv2 | xl_flag_json, 0, R"({"c_info":{"name":"a"}})"},
                     XlHeader{xl_flag_streamv2, 0, "name = \"a\"\nmemory = 128\n"},
                     XlHeader{xl_flag_streamv2, 5, ""}}) {
        std::vector<std::byte> out;
        StreamOutput o{vector_sink(out)};
        ASSERT_TRUE(write_xl_header(o, hdr));
        MemorySource src{out};
        StreamInput in{src};
        auto got = read_xl_header(in);
        ASSERT_TRUE(got) << got.error().message();
        EXPECT_EQ(got->config, hdr.config);
        EXPECT_EQ(got->mandatory_flags, hdr.mandatory_flags);
        EXPECT_EQ(got->optional_flags, hdr.optional_flags);
        EXPECT_EQ(in.offset(), out.size());
    }
}

TEST(StreamRoundTrip, JsonConfigCarriesItsNul) {
    // As xl writes it: the length counts the NUL.
    std::vector<std::byte> out;
    StreamOutput o{vector_sink(out)};
    ASSERT_TRUE(write_xl_header(o, {xl_flag_streamv2 | xl_flag_json, 0, "{}"}));
    ASSERT_EQ(out.size(), 48u + 4 + 3);
    EXPECT_EQ(le32(out, 44), 7u);
    EXPECT_EQ(le32(out, 48), 3u);
    EXPECT_EQ(out.back(), std::byte{0});
}

TEST(StreamRoundTrip, SampleSaveFile) {
    auto bytes = build_sample_stream();
    ASSERT_TRUE(bytes) << bytes.error().message();
    auto c = test::read_xl(*bytes, {.pfn_limit = 16});
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_TRUE(c->xl->json());
    EXPECT_NE(c->xl->config.find(R"("name":"sample")"), std::string::npos);
    ASSERT_EQ(c->libxl.size(), 2u);   // LIBXC_CONTEXT, END
    unsigned pages = 0;
    for (auto const& pd : all_of<PageDataRecord>(c->libxc)) {
        for (std::size_t i = 0; i < pd.pages.size(); ++i) {
            EXPECT_EQ(pd.data[i * page_size], std::byte(pd.pages[i].pfn + 1));
            ++pages;
        }
    }
    EXPECT_EQ(pages, 16u);
    auto ctx = all_of<HvmContextRecord>(c->libxc);
    ASSERT_EQ(ctx.size(), 1u);
    auto entries = parse_hvm_context(ctx[0].blob);
    ASSERT_TRUE(entries) << entries.error().message();
    EXPECT_EQ(std::count_if(entries->begin(), entries->end(), [](auto& e) { return e.typecode == hvm_code_cpu; }), 2);
    EXPECT_EQ(all_of<HvmParamsRecord>(c->libxc).at(0).params.size(), 7u);
    EXPECT_EQ(all_of<CpuidPolicyRecord>(c->libxc).size(), 1u);
    EXPECT_EQ(all_of<MsrPolicyRecord>(c->libxc).size(), 1u);
    EXPECT_EQ(all_of<TscInfoRecord>(c->libxc).at(0).khz, 2'000'000u);
    // One page fewer in the domain: pfn 15 is out of bounds.
    auto small = test::read_xl(*bytes, {.pfn_limit = 15});
    ASSERT_FALSE(small);
    EXPECT_NE(small.error().message().find("pfn[7] 0xf is beyond the domain's limit 0xf"), std::string::npos);
}

TEST(StreamRoundTrip, SampleThroughFileDescriptors) {
    auto bytes = build_sample_stream({.format = SampleFormat::libxl});
    ASSERT_TRUE(bytes);
    FILE* f = std::tmpfile();
    ASSERT_TRUE(f);
    ASSERT_TRUE(fd_sink(fileno(f))(*bytes));
    ASSERT_EQ(::lseek(fileno(f), 0, SEEK_SET), 0);
    FdSource src{fileno(f)};
    StreamInput in{src};
    test::Collected c;
    auto r = read_libxl_stream(in, {}, test::collect_into(c));
    std::fclose(f);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(in.offset(), bytes->size());
    EXPECT_EQ(all_of<PageDataRecord>(c.libxc).size(), 2u);
}

TEST(StreamRoundTrip, VisitorErrorsStopTheRead) {
    auto bytes = build_sample_stream();
    ASSERT_TRUE(bytes);
    MemorySource src{*bytes};
    StreamInput in{src};
    StreamVisitor v;
    v.libxc = [](LibxcRecord const& r) -> StreamResult<void> {
        if (std::holds_alternative<PageDataRecord>(r)) return stream_fail("kxl", "restore", 0, "no memory");
        return {};
    };
    auto r = read_xl_save(in, {}, v);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "kxl restore at offset 0: no memory");
}

TEST(StreamRoundTrip, WriterRefusesBadRecords) {
    std::vector<std::byte> out;
    StreamOutput o{vector_sink(out)};
    LibxcWriter w{o};
    LibxlWriter l{o};
    std::vector<PageEntry> none;
    EXPECT_FALSE(w.page_data(none, {}));
    std::vector<PageEntry> many(page_batch_max + 1);
    EXPECT_FALSE(w.page_data(many, std::vector<std::byte>(many.size() * page_size)));
    std::vector<PageEntry> one{{1, PageType::notab}};
    EXPECT_FALSE(w.page_data(one, std::vector<std::byte>(100)));
    std::vector<PageEntry> bad_type{{1, PageType(5)}};
    EXPECT_FALSE(w.page_data(bad_type, {}));
    std::vector<PageEntry> bad_pfn{{1ull << 52, PageType::xtab}};
    EXPECT_FALSE(w.page_data(bad_pfn, {}));
    EXPECT_FALSE(w.hvm_context({}));
    EXPECT_FALSE(w.cpuid_policy({}));
    EXPECT_FALSE(w.header({.version = 4}));
    EXPECT_FALSE(w.header({.type = DomainType::x86_pv}));
    EXPECT_FALSE(l.emulator_context(EmulatorId(3), 0, {}));
    EXPECT_FALSE(l.emulator_xenstore_data({EmulatorId::qemu_upstream, 0, {{"/abs", "x"}}}));
    EXPECT_FALSE(l.checkpoint_state(3));
    EXPECT_FALSE(write_xl_header(o, {xl_flag_streamv2 | 4, 0, ""}));
    EXPECT_TRUE(out.empty());   // nothing written for a refused record
}

TEST(StreamRoundTrip, SinkErrorsNameTheRecord) {
    StreamOutput o{[](std::span<std::byte const>) -> std::expected<void, std::string> {
        return std::unexpected(std::string("write: No space left on device"));
    }};
    LibxcWriter w{o};
    auto r = w.end();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message(), "libxc END record at offset 0: write: No space left on device");
}

} // namespace
} // namespace kxen::toolstack::stream
