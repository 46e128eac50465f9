#include "toolstack/stream/reader.hpp"

#include "toolstack/stream/hvm_context.hpp"

#include <algorithm>
#include <array>

namespace kxen::toolstack::stream {

namespace {

using Span = std::span<std::byte const>;

bool all_zero(Span b) {
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

// A record header and its body, read and checked for framing: the body was within the
// caller's cap, and its padding is zero.
struct RawRecord {
    std::uint32_t type = 0;
    std::uint32_t length = 0;
    std::uint64_t offset = 0;   // of the record header
    std::vector<std::byte> body;   // `length` bytes, padding removed
};

struct Framing {
    char const* layer;
    std::string (*name)(std::uint32_t);
};

// `cap` says, from the type and length, whether the body is kept (false: skipped), or why the
// record is refused.
using CapFn = std::expected<bool, std::string> (*)(std::uint32_t type, std::uint32_t length);

StreamResult<RawRecord> read_record(StreamInput& in, Framing f, CapFn cap) {
    RawRecord rec;
    rec.offset = in.offset();
    std::array<std::byte, 8> hdr;
    if (auto r = in.read_exact(hdr); !r)
        return stream_fail(f.layer, "record header", rec.offset, "{}", r.error());
    rec.type = le32(hdr, 0);
    rec.length = le32(hdr, 4);
    std::string what = f.name(rec.type) + " record";
    auto keep = cap(rec.type, rec.length);
    if (!keep) return stream_fail(f.layer, what, rec.offset, "{}", keep.error());
    std::uint64_t padded = rec_padded(rec.length);
    if (*keep) {
        auto body = in.read_vector(std::size_t(padded));
        if (!body) return stream_fail(f.layer, what, rec.offset, "{}", body.error());
        if (!all_zero(Span{*body}.subspan(rec.length)))
            return stream_fail(f.layer, what, rec.offset, "padding after the {}-byte body is not zero",
                               rec.length);
        body->resize(rec.length);
        rec.body = std::move(*body);
    } else if (auto r = in.skip(padded); !r) {
        return stream_fail(f.layer, what, rec.offset, "{}", r.error());
    }
    return rec;
}

std::expected<bool, std::string> exactly(std::uint32_t len, std::uint32_t want) {
    if (len != want) return std::unexpected(fmt::format("body length {} is not {}", len, want));
    return true;
}
std::expected<bool, std::string> at_most(std::uint32_t len, std::uint32_t max) {
    if (len > max) return std::unexpected(fmt::format("body length {} exceeds the maximum {}", len, max));
    return true;
}
// Optional records that this reader does not know are skipped, not kept.
std::expected<bool, std::string> skipped(std::uint32_t len) {
    if (len > record_length_max)
        return std::unexpected(fmt::format("body length {} exceeds the maximum {}", len, record_length_max));
    return false;
}

// ---- libxc record bodies ----

using Fail = std::unexpected<std::string>;
template <typename... A> Fail fail(fmt::format_string<A...> f, A&&... a) {
    return Fail(fmt::format(f, std::forward<A>(a)...));
}

std::expected<PageDataRecord, std::string> parse_page_data(Span b, std::uint64_t pfn_limit) {
    if (b.size() < 8) return fail("body length {} is shorter than the 8-byte header", b.size());
    std::uint32_t count = le32(b, 0);
    if (le32(b, 4) != 0) return fail("reserved field is {:#x}, not zero", le32(b, 4));
    if (count == 0) return fail("count is 0");
    if (count > page_batch_max) return fail("count {} exceeds the batch maximum {}", count, page_batch_max);
    if (b.size() < 8 + std::size_t(count) * 8)
        return fail("count {} does not match body length {}: too short for the pfn list", count, b.size());
    PageDataRecord rec;
    rec.pages.reserve(count);
    std::size_t with_data = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        std::uint64_t w = le64(b, 8 + 8 * std::size_t(i));
        std::uint64_t pfn = w & page_pfn_mask;
        unsigned type = unsigned(w >> page_type_shift);
        if (w & page_reserved_mask)
            return fail("pfn[{}] {:#018x} has reserved bits set", i, w);
        if (!page_type_known(type)) return fail("pfn[{}] {:#x} has invalid type {:#x}", i, pfn, type);
        if (pfn >= pfn_limit) return fail("pfn[{}] {:#x} is beyond the domain's limit {:#x}", i, pfn, pfn_limit);
        rec.pages.push_back({pfn, PageType(type)});
        with_data += page_type_has_data(type);
    }
    std::size_t want = 8 + std::size_t(count) * 8 + with_data * page_size;
    if (b.size() != want)
        return fail("count {} does not match body length {}: {} pages with data need {} bytes", count,
                    b.size(), with_data, want);
    rec.data.assign(b.begin() + 8 + std::ptrdiff_t(count) * 8, b.end());
    return rec;
}

std::expected<TscInfoRecord, std::string> parse_tsc_info(Span b) {
    if (le32(b, 20) != 0) return fail("reserved field is {:#x}, not zero", le32(b, 20));
    return TscInfoRecord{le32(b, 0), le32(b, 4), le64(b, 8), le32(b, 16)};
}

std::expected<HvmParamsRecord, std::string> parse_hvm_params(Span b) {
    if (b.size() < 8) return fail("body length {} is shorter than the 8-byte header", b.size());
    std::uint32_t count = le32(b, 0);
    if (le32(b, 4) != 0) return fail("reserved field is {:#x}, not zero", le32(b, 4));
    if (b.size() != 8 + std::uint64_t(count) * 16)
        return fail("count {} does not match body length {}", count, b.size());
    HvmParamsRecord rec;
    for (std::uint32_t i = 0; i < count; ++i)
        rec.params.push_back({le64(b, 8 + 16 * std::size_t(i)), le64(b, 16 + 16 * std::size_t(i))});
    return rec;
}

std::expected<CpuidPolicyRecord, std::string> parse_cpuid(Span b) {
    if (b.empty() || b.size() % 24) return fail("body length {} is not a non-zero multiple of 24", b.size());
    CpuidPolicyRecord rec;
    for (std::size_t o = 0; o < b.size(); o += 24)
        rec.leaves.push_back({le32(b, o), le32(b, o + 4), le32(b, o + 8), le32(b, o + 12), le32(b, o + 16),
                              le32(b, o + 20)});
    return rec;
}

std::expected<MsrPolicyRecord, std::string> parse_msr(Span b) {
    if (b.empty() || b.size() % 16) return fail("body length {} is not a non-zero multiple of 16", b.size());
    MsrPolicyRecord rec;
    for (std::size_t o = 0; o < b.size(); o += 16) {
        if (le32(b, o + 4) != 0)
            return fail("MSR {:#x}: reserved flags {:#x} are not zero", le32(b, o), le32(b, o + 4));
        rec.msrs.push_back({le32(b, o), le64(b, o + 8)});
    }
    return rec;
}

// Largest body accepted for each libxc type; refuses the types Xen's x86 HVM restore does not
// handle.
std::expected<bool, std::string> libxc_cap(std::uint32_t type, std::uint32_t len) {
    switch (LibxcType(type)) {
    case LibxcType::end:
    case LibxcType::static_data_end:
    case LibxcType::checkpoint:
    case LibxcType::verify: return exactly(len, 0);
    case LibxcType::page_data: return at_most(len, page_data_length_max);
    case LibxcType::x86_tsc_info: return exactly(len, 24);
    case LibxcType::hvm_context: return at_most(len, hvm_context_length_max);
    case LibxcType::hvm_params: return at_most(len, hvm_params_length_max);
    case LibxcType::x86_cpuid_policy:
    case LibxcType::x86_msr_policy: return at_most(len, policy_length_max);
    case LibxcType::x86_pv_info:
    case LibxcType::x86_pv_p2m_frames:
    case LibxcType::x86_pv_vcpu_basic:
    case LibxcType::x86_pv_vcpu_extended:
    case LibxcType::x86_pv_vcpu_xsave:
    case LibxcType::x86_pv_vcpu_msrs:
    case LibxcType::shared_info: return fail("a PV record in an x86 HVM stream");
    case LibxcType::toolstack: return fail("TOOLSTACK records are obsolete and not accepted");
    case LibxcType::checkpoint_dirty_pfn_list: return fail("only sent on COLO's back channel");
    }
    if (type & rec_optional_bit) return skipped(len);
    return fail("unknown mandatory record");
}

std::string libxc_what(std::uint32_t type) { return libxc_type_name(type) + " record"; }

} // namespace

// ---- libxc ----

StreamResult<LibxcHeader> LibxcReader::read_header() {
    std::uint64_t off = in_->offset();
    std::array<std::byte, libxc_image_header_size> ih;
    if (auto r = in_->read_exact(ih); !r) return stream_fail("libxc", "image header", off, "{}", r.error());
    if (be64(ih, 0) != libxc_marker)
        return stream_fail("libxc", "image header", off, "marker {:#018x} is not {:#018x} (a legacy stream?)",
                           be64(ih, 0), libxc_marker);
    if (be32(ih, 8) != libxc_ident)
        return stream_fail("libxc", "image header", off, "id {:#010x} is not {:#010x} (\"XENF\")", be32(ih, 8),
                           libxc_ident);
    LibxcHeader h;
    h.version = be32(ih, 12);
    if (h.version < 2 || h.version > 3)
        return stream_fail("libxc", "image header", off, "version {} is not 2 or 3", h.version);
    std::uint16_t options = be16(ih, 16);
    if (options & libxc_opt_big_endian)
        return stream_fail("libxc", "image header", off, "big-endian streams are not supported");
    if (options & ~libxc_opt_big_endian)
        return stream_fail("libxc", "image header", off, "reserved option bits {:#x} are set",
                           options & ~libxc_opt_big_endian);
    if (be16(ih, 18) != 0 || be32(ih, 20) != 0)
        return stream_fail("libxc", "image header", off, "reserved fields are not zero");

    off = in_->offset();
    std::array<std::byte, libxc_domain_header_size> dh;
    if (auto r = in_->read_exact(dh); !r) return stream_fail("libxc", "domain header", off, "{}", r.error());
    std::uint32_t type = le32(dh, 0);
    if (type != std::uint32_t(DomainType::x86_hvm))
        return stream_fail("libxc", "domain header", off, "domain type {} is not x86 HVM ({})", type,
                           std::uint32_t(DomainType::x86_hvm));
    h.type = DomainType(type);
    h.page_shift = le16(dh, 4);
    if (h.page_shift != 12)
        return stream_fail("libxc", "domain header", off, "page shift {} is not 12", h.page_shift);
    if (le16(dh, 6) != 0)
        return stream_fail("libxc", "domain header", off, "reserved field is {:#x}, not zero", le16(dh, 6));
    h.xen_major = le32(dh, 8);
    h.xen_minor = le32(dh, 12);
    version_ = h.version;
    return h;
}

StreamResult<LibxcRecord> LibxcReader::next() {
    if (version_ == 0) return stream_fail("libxc", "stream", in_->offset(), "records read before the headers");
    if (finished_) return stream_fail("libxc", "stream", in_->offset(), "read past the END record");

    auto raw = read_record(*in_, {"libxc", &libxc_type_name}, &libxc_cap);
    if (!raw) return std::unexpected(raw.error());
    RawRecord& rec = *raw;
    auto bad = [&](std::string const& detail) {
        return stream_fail("libxc", libxc_what(rec.type), rec.offset, "{}", detail);
    };
    Span body{rec.body};

    switch (LibxcType(rec.type)) {
    case LibxcType::end:
        if (version_ >= 3 && !static_data_end_) return bad("no STATIC_DATA_END record before END");
        if (!hvm_context_ever_) return bad("no HVM_CONTEXT record before END");
        finished_ = true;
        return EndRecord{};

    case LibxcType::page_data: {
        if (!static_data_end_) {
            // Version 2 streams have no STATIC_DATA_END; Xen infers it at the first PAGE_DATA.
            if (version_ >= 3) return bad("PAGE_DATA before STATIC_DATA_END");
            static_data_end_ = true;
        }
        auto p = parse_page_data(body, opts_.pfn_limit);
        if (!p) return bad(p.error());
        return std::move(*p);
    }

    case LibxcType::x86_tsc_info: {
        if (tsc_) return bad("a second X86_TSC_INFO record in one checkpoint");
        auto t = parse_tsc_info(body);
        if (!t) return bad(t.error());
        tsc_ = true;
        return *t;
    }

    case LibxcType::hvm_context:
        if (rec.length == 0) return bad("empty HVM context");
        if (hvm_context_) return bad("a second HVM_CONTEXT record in one checkpoint");
        if (opts_.check_hvm_context)
            if (auto e = parse_hvm_context(body, rec.offset + 8); !e) return std::unexpected(e.error());
        hvm_context_ = hvm_context_ever_ = true;
        return HvmContextRecord{std::move(rec.body)};

    case LibxcType::hvm_params: {
        if (hvm_params_) return bad("a second HVM_PARAMS record in one checkpoint");
        auto p = parse_hvm_params(body);
        if (!p) return bad(p.error());
        hvm_params_ = true;
        return std::move(*p);
    }

    case LibxcType::x86_cpuid_policy:
    case LibxcType::x86_msr_policy: {
        bool cpuid = LibxcType(rec.type) == LibxcType::x86_cpuid_policy;
        if (version_ < 3) return bad("CPU policy records need a version 3 stream");
        if (static_data_end_) return bad("CPU policy after STATIC_DATA_END");
        if (cpuid ? cpuid_ : msr_) return bad("a second record of this type");
        (cpuid ? cpuid_ : msr_) = true;
        if (cpuid) {
            auto c = parse_cpuid(body);
            if (!c) return bad(c.error());
            return std::move(*c);
        }
        auto m = parse_msr(body);
        if (!m) return bad(m.error());
        return std::move(*m);
    }

    case LibxcType::static_data_end:
        if (version_ < 3) return bad("STATIC_DATA_END in a version 2 stream");
        if (static_data_end_) return bad("a second STATIC_DATA_END record");
        static_data_end_ = true;
        return StaticDataEndRecord{};

    case LibxcType::checkpoint:
        if (!opts_.checkpointed) return bad("CHECKPOINT in a stream that is not checkpointed");
        if (!static_data_end_) return bad("CHECKPOINT before STATIC_DATA_END");
        tsc_ = hvm_context_ = hvm_params_ = false;
        return CheckpointRecord{};

    case LibxcType::verify:
        if (verify_) return bad("a second VERIFY record");
        verify_ = true;
        return VerifyRecord{};

    default: break;   // libxc_cap() refused every other known type
    }
    return OptionalRecord{rec.type, rec.length};
}

// ---- libxl ----

namespace {

std::expected<bool, std::string> libxl_cap(std::uint32_t type, std::uint32_t len) {
    switch (LibxlType(type)) {
    case LibxlType::end:
    case LibxlType::libxc_context:
    case LibxlType::checkpoint_end: return exactly(len, 0);
    case LibxlType::emulator_xenstore_data: return at_most(len, xenstore_data_length_max);
    case LibxlType::emulator_context: return at_most(len, emulator_context_length_max);
    case LibxlType::checkpoint_state: return exactly(len, 4);
    }
    if (type & rec_optional_bit) return skipped(len);
    return fail("unknown mandatory record");
}

std::expected<std::pair<EmulatorId, std::uint32_t>, std::string> emulator_header(Span b) {
    if (b.size() < 8) return fail("body length {} is too short for the 8-byte emulator header", b.size());
    std::uint32_t id = le32(b, 0);
    if (id > std::uint32_t(EmulatorId::qemu_upstream)) return fail("unknown emulator id {}", id);
    return std::pair{EmulatorId(id), le32(b, 4)};
}

// Packed NUL-terminated key, value pairs, as libxl__restore_emulator_xenstore_data() takes them.
std::expected<std::vector<std::pair<std::string, std::string>>, std::string> xenstore_pairs(Span b) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string_view s{reinterpret_cast<char const*>(b.data()), b.size()};
    auto next = [&](char const* what, std::string& into) -> std::expected<void, std::string> {
        auto nul = s.find('\0');
        if (nul == std::string_view::npos) return fail("{} at byte {} is not NUL-terminated", what, b.size() - s.size());
        into.assign(s.substr(0, nul));
        s.remove_prefix(nul + 1);
        return {};
    };
    while (!s.empty()) {
        std::pair<std::string, std::string> kv;
        if (auto r = next("key", kv.first); !r) return std::unexpected(r.error());
        if (kv.first.empty()) return fail("empty key");
        if (kv.first.front() == '/') return fail("key '{}' is not relative", kv.first);
        if (auto r = next("value", kv.second); !r) return std::unexpected(r.error());
        out.push_back(std::move(kv));
    }
    return out;
}

} // namespace

StreamResult<LibxlHeader> LibxlReader::read_header() {
    std::uint64_t off = in_->offset();
    std::array<std::byte, 16> h;
    if (auto r = in_->read_exact(h); !r) return stream_fail("libxl", "stream header", off, "{}", r.error());
    if (be64(h, 0) != libxl_ident)
        return stream_fail("libxl", "stream header", off, "ident {:#018x} is not {:#018x} (\"LibxlFmt\")",
                           be64(h, 0), libxl_ident);
    if (be32(h, 8) != libxl_version)
        return stream_fail("libxl", "stream header", off, "version {} is not {}", be32(h, 8), libxl_version);
    std::uint32_t options = be32(h, 12);
    if (options & libxl_opt_big_endian)
        return stream_fail("libxl", "stream header", off, "big-endian streams are not supported");
    if (options & ~(libxl_opt_big_endian | libxl_opt_legacy))
        return stream_fail("libxl", "stream header", off, "reserved option bits {:#x} are set",
                           options & ~(libxl_opt_big_endian | libxl_opt_legacy));
    header_ = true;
    return LibxlHeader{options};
}

StreamResult<LibxlRecord> LibxlReader::next() {
    if (!header_) return stream_fail("libxl", "stream", in_->offset(), "records read before the header");
    if (finished_) return stream_fail("libxl", "stream", in_->offset(), "read past the END record");
    auto raw = read_record(*in_, {"libxl", &libxl_type_name}, &libxl_cap);
    if (!raw) return std::unexpected(raw.error());
    RawRecord& rec = *raw;
    auto bad = [&](std::string const& detail) {
        return stream_fail("libxl", libxl_type_name(rec.type) + " record", rec.offset, "{}", detail);
    };
    Span body{rec.body};

    switch (LibxlType(rec.type)) {
    case LibxlType::end:
        if (in_checkpoint_) return bad("END inside a checkpoint, before CHECKPOINT_END");
        if (!libxc_context_) return bad("no LIBXC_CONTEXT record before END");
        finished_ = true;
        return EndRecord{};
    case LibxlType::libxc_context:
        if (libxc_context_) return bad("a second LIBXC_CONTEXT record");
        libxc_context_ = true;
        return LibxcContextRecord{};
    case LibxlType::emulator_xenstore_data: {
        auto h = emulator_header(body);
        if (!h) return bad(h.error());
        auto kv = xenstore_pairs(body.subspan(8));
        if (!kv) return bad(kv.error());
        return EmulatorXenstoreDataRecord{h->first, h->second, std::move(*kv)};
    }
    case LibxlType::emulator_context: {
        auto h = emulator_header(body);
        if (!h) return bad(h.error());
        rec.body.erase(rec.body.begin(), rec.body.begin() + 8);
        return EmulatorContextRecord{h->first, h->second, std::move(rec.body)};
    }
    case LibxlType::checkpoint_end:
        if (!in_checkpoint_) return bad("CHECKPOINT_END outside a checkpoint");
        in_checkpoint_ = false;
        return CheckpointEndRecord{};
    case LibxlType::checkpoint_state: {
        if (!opts_.checkpointed) return bad("CHECKPOINT_STATE in a stream that is not checkpointed");
        std::uint32_t id = le32(body, 0);
        if (id > checkpoint_state_max) return bad(fmt::format("unknown checkpoint state {}", id));
        return CheckpointStateRecord{id};
    }
    }
    return OptionalRecord{rec.type, rec.length};
}

// ---- xl ----

StreamResult<XlHeader> read_xl_header(StreamInput& in) {
    std::uint64_t off = in.offset();
    std::array<std::byte, xl_header_size> h;
    auto bad = [&](std::string const& detail) { return stream_fail("xl", "save-file header", off, "{}", detail); };
    if (auto r = in.read_exact(h); !r) return bad(r.error());
    if (!std::equal(xl_magic.begin(), xl_magic.end(), h.begin(),
                    [](char c, std::byte b) { return std::byte(c) == b; }))
        return bad("bad magic: not an xl save file");
    std::uint32_t order = le32(h, 32);
    if (order == __builtin_bswap32(xl_byteorder)) return bad("the save file is big-endian");
    if (order != xl_byteorder) return bad(fmt::format("byte-order marker {:#010x} is not {:#010x}", order, xl_byteorder));
    XlHeader x;
    x.mandatory_flags = le32(h, 36);
    x.optional_flags = le32(h, 40);
    std::uint32_t optlen = le32(h, 44);
    if (x.mandatory_flags & ~xl_flags_known)
        return bad(fmt::format("unknown mandatory flags {:#x}", x.mandatory_flags & ~xl_flags_known));
    if (!(x.mandatory_flags & xl_flag_streamv2))
        return bad("no STREAMv2 flag: a legacy (pre-Xen 4.6) save file, not supported");
    if (optlen > xl_optional_data_max)
        return bad(fmt::format("optional data length {} exceeds the maximum {}", optlen, xl_optional_data_max));
    auto opt = in.read_vector(optlen);
    if (!opt) return bad(fmt::format("optional data: {}", opt.error()));
    if (optlen == 0) return x;
    if (optlen < 4) return bad(fmt::format("optional data of {} bytes is too short for the config length", optlen));
    std::uint32_t config_len = le32(*opt, 0);
    if (config_len > optlen - 4)
        return bad(fmt::format("config length {} exceeds the {} bytes of optional data", config_len, optlen - 4));
    std::string config(reinterpret_cast<char const*>(opt->data()) + 4, config_len);
    if (x.json() && config_len > 0) {
        // libxl parses the JSON config as a C string.
        if (config.back() != '\0') return bad("JSON config is not NUL-terminated");
        config.pop_back();
        if (config.find('\0') != std::string::npos) return bad("JSON config contains a NUL");
    }
    x.config = std::move(config);
    return x;
}

StreamResult<void> read_libxl_stream(StreamInput& in, ReadOptions const& opts, StreamVisitor const& v) {
    LibxlReader xl{in, opts};
    if (auto h = xl.read_header(); !h) return std::unexpected(h.error());
    auto libxl_record = [&]() -> StreamResult<LibxlRecord> {
        auto r = xl.next();
        if (!r) return r;
        if (v.libxl)
            if (auto cb = v.libxl(*r); !cb) return std::unexpected(cb.error());
        return r;
    };
    for (;;) {
        auto r = libxl_record();
        if (!r) return std::unexpected(r.error());
        if (std::holds_alternative<EndRecord>(*r)) return {};
        if (!std::holds_alternative<LibxcContextRecord>(*r)) continue;

        LibxcReader xc{in, opts};
        auto h = xc.read_header();
        if (!h) return std::unexpected(h.error());
        if (v.libxc_header)
            if (auto cb = v.libxc_header(*h); !cb) return std::unexpected(cb.error());
        for (;;) {
            auto rec = xc.next();
            if (!rec) return std::unexpected(rec.error());
            if (v.libxc)
                if (auto cb = v.libxc(*rec); !cb) return std::unexpected(cb.error());
            if (std::holds_alternative<EndRecord>(*rec)) break;
            if (!std::holds_alternative<CheckpointRecord>(*rec)) continue;
            // libxl's records of this checkpoint, then the libxc stream goes on.
            xl.enter_checkpoint();
            // LibxlReader refuses END and a second LIBXC_CONTEXT in there.
            while (xl.in_checkpoint())
                if (auto c = libxl_record(); !c) return std::unexpected(c.error());
        }
    }
}

StreamResult<XlHeader> read_xl_save(StreamInput& in, ReadOptions const& opts, StreamVisitor const& v) {
    auto h = read_xl_header(in);
    if (!h) return h;
    if (auto r = read_libxl_stream(in, opts, v); !r) return std::unexpected(r.error());
    std::uint64_t off = in.offset();
    auto end = in.at_end();
    if (!end) return stream_fail("xl", "save file", off, "{}", end.error());
    if (!*end) return stream_fail("xl", "save file", off, "data after the libxl END record");
    return h;
}

} // namespace kxen::toolstack::stream
