#include "toolstack/stream/writer.hpp"

namespace kxen::toolstack::stream {

namespace {

using Parts = std::initializer_list<std::span<std::byte const>>;

std::unexpected<StreamError> io_fail(std::string layer, std::string what, std::uint64_t off,
                                     std::string const& err) {
    return stream_fail(std::move(layer), std::move(what), off, "{}", err);
}

// One record: header, the body's parts, zero padding to 8 octets.
StreamResult<void> write_framed(StreamOutput& out, char const* layer, std::string const& name,
                                std::uint32_t type, Parts parts) {
    std::uint64_t start = out.offset();
    std::uint64_t len = 0;
    for (auto p : parts) len += p.size();
    if (len > record_length_max)
        return stream_fail(layer, name + " record", start, "body length {} exceeds the maximum {}",
                           len, record_length_max);
    Bytes hdr;
    hdr.u32(type).u32(std::uint32_t(len));
    if (auto r = out.write(hdr.vec()); !r) return io_fail(layer, name + " record", start, r.error());
    for (auto p : parts)
        if (!p.empty())
            if (auto r = out.write(p); !r) return io_fail(layer, name + " record", start, r.error());
    static constexpr std::byte zeros[rec_align]{};
    if (std::size_t pad = std::size_t(rec_padded(len) - len); pad > 0)
        if (auto r = out.write(std::span{zeros, pad}); !r)
            return io_fail(layer, name + " record", start, r.error());
    return {};
}

std::span<std::byte const> as_span(Bytes const& b) { return b.vec(); }

} // namespace

StreamResult<void> write_xl_header(StreamOutput& out, XlHeader const& hdr) {
    std::uint64_t start = out.offset();
    if (hdr.mandatory_flags & ~xl_flags_known)
        return stream_fail("xl", "header", start, "unknown mandatory flags {:#x}",
                           hdr.mandatory_flags & ~xl_flags_known);
    if (hdr.json() && hdr.config.find('\0') != std::string::npos)
        return stream_fail("xl", "header", start, "JSON config contains a NUL");
    // xl's optional data: the config's length as a native u32, then the config. xl counts the
    // NUL that ends a JSON config.
    std::size_t config_len = hdr.config.size() + (hdr.json() && !hdr.config.empty() ? 1 : 0);
    std::size_t optional_len = hdr.config.empty() ? 0 : 4 + config_len;
    if (optional_len > xl_optional_data_max)
        return stream_fail("xl", "header", start, "config of {} bytes is larger than {}",
                           config_len, xl_optional_data_max - 4);
    Bytes b;
    b.text(xl_magic).u32(xl_byteorder).u32(hdr.mandatory_flags).u32(hdr.optional_flags)
        .u32(std::uint32_t(optional_len));
    if (optional_len) {
        b.u32(std::uint32_t(config_len)).text(hdr.config);
        if (hdr.json()) b.u8(0);
    }
    if (auto r = out.write(b.vec()); !r) return io_fail("xl", "header", start, r.error());
    return {};
}

// ---- libxl ----

StreamResult<void> LibxlWriter::header(LibxlHeader const& hdr) {
    std::uint64_t start = out_->offset();
    if (hdr.options & ~libxl_opt_legacy)
        return stream_fail("libxl", "stream header", start, "options {:#x}: only the legacy bit may be set",
                           hdr.options);
    Bytes b;
    b.be(libxl_ident, 8).be(libxl_version, 4).be(hdr.options, 4);
    if (auto r = out_->write(b.vec()); !r) return io_fail("libxl", "stream header", start, r.error());
    return {};
}

StreamResult<void> LibxlWriter::record(std::uint32_t type, std::span<std::byte const> body) {
    return write_framed(*out_, "libxl", libxl_type_name(type), type, {body});
}

StreamResult<void> LibxlWriter::libxc_context() {
    return record(std::uint32_t(LibxlType::libxc_context), {});
}

StreamResult<void> LibxlWriter::emulator_xenstore_data(EmulatorXenstoreDataRecord const& rec) {
    std::uint64_t start = out_->offset();
    if (std::uint32_t(rec.emulator) > std::uint32_t(EmulatorId::qemu_upstream))
        return stream_fail("libxl", "EMULATOR_XENSTORE_DATA record", start, "unknown emulator id {}",
                           std::uint32_t(rec.emulator));
    Bytes b;
    b.u32(std::uint32_t(rec.emulator)).u32(rec.index);
    for (auto const& [key, value] : rec.entries) {
        if (key.empty() || key.front() == '/' || key.find('\0') != std::string::npos ||
            value.find('\0') != std::string::npos)
            return stream_fail("libxl", "EMULATOR_XENSTORE_DATA record", start,
                               "key '{}' must be relative, non-empty and without NULs", key);
        b.text(key).u8(0).text(value).u8(0);
    }
    return record(std::uint32_t(LibxlType::emulator_xenstore_data), b.vec());
}

StreamResult<void> LibxlWriter::emulator_context(EmulatorId emulator, std::uint32_t index,
                                                 std::span<std::byte const> blob) {
    if (std::uint32_t(emulator) > std::uint32_t(EmulatorId::qemu_upstream))
        return stream_fail("libxl", "EMULATOR_CONTEXT record", out_->offset(), "unknown emulator id {}",
                           std::uint32_t(emulator));
    Bytes b;
    b.u32(std::uint32_t(emulator)).u32(index);
    return write_framed(*out_, "libxl", "EMULATOR_CONTEXT", std::uint32_t(LibxlType::emulator_context),
                        {as_span(b), blob});
}

StreamResult<void> LibxlWriter::checkpoint_end() {
    return record(std::uint32_t(LibxlType::checkpoint_end), {});
}

StreamResult<void> LibxlWriter::checkpoint_state(std::uint32_t id) {
    if (id > checkpoint_state_max)
        return stream_fail("libxl", "CHECKPOINT_STATE record", out_->offset(), "unknown state {}", id);
    Bytes b;
    b.u32(id);
    return record(std::uint32_t(LibxlType::checkpoint_state), b.vec());
}

StreamResult<void> LibxlWriter::end() { return record(std::uint32_t(LibxlType::end), {}); }

// ---- libxc ----

StreamResult<void> LibxcWriter::header(LibxcHeader const& hdr) {
    std::uint64_t start = out_->offset();
    if (hdr.version < 2 || hdr.version > 3)
        return stream_fail("libxc", "image header", start, "version {} is not 2 or 3", hdr.version);
    // PVH domains are saved as x86 HVM, as Xen does; PV streams need records this writer lacks.
    if (hdr.type != DomainType::x86_hvm)
        return stream_fail("libxc", "domain header", start, "domain type {} is not x86 HVM",
                           std::uint32_t(hdr.type));
    if (hdr.page_shift != 12)
        return stream_fail("libxc", "domain header", start, "page shift {} is not 12", hdr.page_shift);
    Bytes b;
    b.be(libxc_marker, 8).be(libxc_ident, 4).be(hdr.version, 4).be(0, 2).be(0, 2).be(0, 4);
    b.u32(std::uint32_t(hdr.type)).u16(hdr.page_shift).u16(0).u32(hdr.xen_major).u32(hdr.xen_minor);
    if (auto r = out_->write(b.vec()); !r) return io_fail("libxc", "image header", start, r.error());
    return {};
}

StreamResult<void> LibxcWriter::write(std::uint32_t type, Parts parts) {
    return write_framed(*out_, "libxc", libxc_type_name(type), type, parts);
}

StreamResult<void> LibxcWriter::record(std::uint32_t type, std::span<std::byte const> body) {
    return write(type, {body});
}

StreamResult<void> LibxcWriter::page_data(std::span<PageEntry const> pages, std::span<std::byte const> data) {
    std::uint64_t start = out_->offset();
    if (pages.empty() || pages.size() > page_batch_max)
        return stream_fail("libxc", "PAGE_DATA record", start, "count {} is not in 1..{}", pages.size(),
                           page_batch_max);
    Bytes b;
    b.u32(std::uint32_t(pages.size())).u32(0);
    std::size_t with_data = 0;
    for (auto const& p : pages) {
        auto t = unsigned(p.type);
        if (p.pfn > page_pfn_mask || !page_type_known(t))
            return stream_fail("libxc", "PAGE_DATA record", start, "pfn {:#x} type {:#x} is invalid", p.pfn, t);
        b.u64(p.pfn | (std::uint64_t(t) << page_type_shift));
        with_data += page_type_has_data(t);
    }
    if (data.size() != with_data * page_size)
        return stream_fail("libxc", "PAGE_DATA record", start, "{} bytes of data for {} pages with data",
                           data.size(), with_data);
    return write(std::uint32_t(LibxcType::page_data), {as_span(b), data});
}

StreamResult<void> LibxcWriter::tsc_info(TscInfoRecord const& tsc) {
    Bytes b;
    b.u32(tsc.mode).u32(tsc.khz).u64(tsc.nsec).u32(tsc.incarnation).u32(0);
    return record(std::uint32_t(LibxcType::x86_tsc_info), b.vec());
}

StreamResult<void> LibxcWriter::hvm_context(std::span<std::byte const> blob) {
    if (blob.empty())
        return stream_fail("libxc", "HVM_CONTEXT record", out_->offset(), "empty context");
    return record(std::uint32_t(LibxcType::hvm_context), blob);
}

StreamResult<void> LibxcWriter::hvm_params(std::span<HvmParam const> params) {
    Bytes b;
    b.u32(std::uint32_t(params.size())).u32(0);
    for (auto const& p : params) b.u64(p.index).u64(p.value);
    return record(std::uint32_t(LibxcType::hvm_params), b.vec());
}

StreamResult<void> LibxcWriter::cpuid_policy(std::span<CpuidLeaf const> leaves) {
    if (leaves.empty())
        return stream_fail("libxc", "X86_CPUID_POLICY record", out_->offset(), "no leaves");
    Bytes b;
    for (auto const& l : leaves) b.u32(l.leaf).u32(l.subleaf).u32(l.a).u32(l.b).u32(l.c).u32(l.d);
    return record(std::uint32_t(LibxcType::x86_cpuid_policy), b.vec());
}

StreamResult<void> LibxcWriter::msr_policy(std::span<MsrEntry const> msrs) {
    if (msrs.empty())
        return stream_fail("libxc", "X86_MSR_POLICY record", out_->offset(), "no MSRs");
    Bytes b;
    for (auto const& m : msrs) b.u32(m.idx).u32(0).u64(m.val);
    return record(std::uint32_t(LibxcType::x86_msr_policy), b.vec());
}

StreamResult<void> LibxcWriter::static_data_end() { return record(std::uint32_t(LibxcType::static_data_end), {}); }
StreamResult<void> LibxcWriter::checkpoint() { return record(std::uint32_t(LibxcType::checkpoint), {}); }
StreamResult<void> LibxcWriter::verify() { return record(std::uint32_t(LibxcType::verify), {}); }
StreamResult<void> LibxcWriter::end() { return record(std::uint32_t(LibxcType::end), {}); }

} // namespace kxen::toolstack::stream
