#include "toolstack/stream/hvm_context.hpp"

#include "toolstack/stream/io.hpp"

#include <algorithm>
#include <array>
#include <cstddef>

namespace kxen::toolstack::stream {

namespace {

struct CodeInfo {
    char const* name;
    std::size_t size;        // the full payload size; 0: variable (checked separately)
    bool zero_extend;        // Xen also loads a shorter payload, zero-extended
};

// HVM_SAVE_LENGTH of each typecode in <xen/arch-x86/hvm/save.h>.
constexpr std::array<CodeInfo, HVM_SAVE_CODE_MAX + 1> codes{{
    {"END", 0, false},
    {"HEADER", HVM_SAVE_LENGTH(HEADER), false},
    {"CPU", HVM_SAVE_LENGTH(CPU), false},
    {"PIC", HVM_SAVE_LENGTH(PIC), false},
    {"IOAPIC", HVM_SAVE_LENGTH(IOAPIC), false},
    {"LAPIC", HVM_SAVE_LENGTH(LAPIC), true},
    {"LAPIC_REGS", HVM_SAVE_LENGTH(LAPIC_REGS), false},
    {"PCI_IRQ", HVM_SAVE_LENGTH(PCI_IRQ), false},
    {"ISA_IRQ", HVM_SAVE_LENGTH(ISA_IRQ), false},
    {"PCI_LINK", HVM_SAVE_LENGTH(PCI_LINK), false},
    {"PIT", HVM_SAVE_LENGTH(PIT), false},
    {"RTC", HVM_SAVE_LENGTH(RTC), false},
    {"HPET", HVM_SAVE_LENGTH(HPET), false},
    {"PMTIMER", HVM_SAVE_LENGTH(PMTIMER), false},
    {"MTRR", HVM_SAVE_LENGTH(MTRR), false},
    {"VIRIDIAN_DOMAIN", HVM_SAVE_LENGTH(VIRIDIAN_DOMAIN), true},
    {"CPU_XSAVE", 0, false},
    {"VIRIDIAN_VCPU", HVM_SAVE_LENGTH(VIRIDIAN_VCPU), true},
    {"VMCE_VCPU", HVM_SAVE_LENGTH(VMCE_VCPU), true},
    {"TSC_ADJUST", HVM_SAVE_LENGTH(TSC_ADJUST), false},
    {"CPU_MSR", 0, false},
}};

constexpr std::size_t xsave_min = sizeof(hvm_hw_cpu_xsave);   // fixed part: legacy area + header
constexpr std::size_t msr_header = offsetof(hvm_msr, msr);
constexpr std::size_t msr_entry = sizeof(hvm_msr::hvm_one_msr);

// Why a payload of `len` bytes is wrong for `code`, or nothing.
std::optional<std::string> check_size(std::uint16_t code, std::span<std::byte const> payload) {
    std::size_t len = payload.size();
    if (code == hvm_code_cpu) {
        // Xen converts the pre-4.7 layout without the flags field.
        if (len == sizeof(hvm_hw_cpu) || len == sizeof(hvm_hw_cpu_compat)) return std::nullopt;
        return fmt::format("length {} is not {} (or {})", len, sizeof(hvm_hw_cpu), sizeof(hvm_hw_cpu_compat));
    }
    if (code == hvm_code_xsave) {
        if (len < xsave_min) return fmt::format("length {} is shorter than {}", len, xsave_min);
        return std::nullopt;
    }
    if (code == hvm_code_msr) {
        if (len < msr_header) return fmt::format("length {} is shorter than {}", len, msr_header);
        std::uint32_t count = le32(payload, 0);
        if (len != msr_header + std::uint64_t(count) * msr_entry)
            return fmt::format("count {} does not match length {}", count, len);
        return std::nullopt;
    }
    auto const& info = codes[code];
    if (len == info.size || (info.zero_extend && len > 0 && len < info.size)) return std::nullopt;
    return fmt::format("length {} is not {}", len, info.size);
}

} // namespace

char const* hvm_code_name(std::uint16_t typecode) {
    return typecode < codes.size() ? codes[typecode].name : "unknown";
}

HvmContextBuilder::HvmContextBuilder(hvm_save_header hdr) {
    hdr.magic = HVM_FILE_MAGIC;
    hdr.version = HVM_FILE_VERSION;
    add_struct(hvm_code_header, 0, hdr);
}

HvmContextBuilder& HvmContextBuilder::add(std::uint16_t typecode, std::uint16_t instance,
                                          std::span<std::byte const> payload) {
    if (error_) return *this;
    auto fail = [&](std::string detail) {
        error_ = StreamError{"hvm context", fmt::format("{} entry (instance {})", hvm_code_name(typecode), instance),
                             blob_.size(), std::move(detail)};
        return std::ref(*this);
    };
    if (typecode == hvm_code_end || typecode > hvm_code_max) return fail("typecode is not a known save type");
    if (typecode == hvm_code_header && !blob_.empty()) return fail("HEADER comes first, once");
    std::uint32_t key = std::uint32_t(typecode) << 16 | instance;
    if (std::find(seen_.begin(), seen_.end(), key) != seen_.end()) return fail("a second entry");
    if (auto why = check_size(typecode, payload)) return fail(*why);
    seen_.push_back(key);
    Bytes b;
    b.u16(typecode).u16(instance).u32(std::uint32_t(payload.size())).raw(payload);
    blob_.insert(blob_.end(), b.vec().begin(), b.vec().end());
    return *this;
}

HvmContextBuilder& HvmContextBuilder::add_xsave(std::uint16_t vcpu, hvm_hw_cpu_xsave const& fixed,
                                                std::span<std::byte const> extended) {
    Bytes b;
    b.raw(std::as_bytes(std::span{&fixed, 1})).raw(extended);
    return add(hvm_code_xsave, vcpu, b.vec());
}

HvmContextBuilder& HvmContextBuilder::add_cpu_msrs(std::uint16_t vcpu, std::span<hvm_msr::hvm_one_msr const> msrs) {
    Bytes b;
    b.u32(std::uint32_t(msrs.size())).u32(0);
    for (auto const& m : msrs) b.u32(m.index).u32(m._rsvd).u64(m.val);
    return add(hvm_code_msr, vcpu, b.vec());
}

StreamResult<std::vector<std::byte>> HvmContextBuilder::finish() {
    if (error_) return std::unexpected(*error_);
    Bytes end;
    end.u16(hvm_code_end).u16(0).u32(0);
    std::vector<std::byte> out = std::move(blob_);
    out.insert(out.end(), end.vec().begin(), end.vec().end());
    blob_.clear();
    seen_.clear();
    return out;
}

StreamResult<std::vector<HvmSaveEntry>> parse_hvm_context(std::span<std::byte const> blob, std::uint64_t stream_offset) {
    std::vector<HvmSaveEntry> out;
    std::vector<std::uint32_t> seen;
    std::size_t pos = 0;
    for (;;) {
        auto fail = [&](std::string what, std::string detail) {
            return std::unexpected(StreamError{"hvm context", std::move(what), stream_offset + pos, std::move(detail)});
        };
        if (blob.size() - pos < hvm_descriptor_size)
            return fail("descriptor", fmt::format("{} bytes left, no END entry", blob.size() - pos));
        HvmSaveEntry e;
        e.typecode = le16(blob, pos);
        e.instance = le16(blob, pos + 2);
        std::uint32_t len = le32(blob, pos + 4);
        e.offset = pos;
        std::string what = fmt::format("{} entry (instance {})", hvm_code_name(e.typecode), e.instance);
        if (e.typecode > hvm_code_max) return fail(what, fmt::format("typecode {} is not a known save type", e.typecode));
        if (len > blob.size() - pos - hvm_descriptor_size)
            return fail(what, fmt::format("length {} runs past the end of the {}-byte context", len, blob.size()));
        e.data = blob.subspan(pos + hvm_descriptor_size, len);
        if (out.empty() && e.typecode != hvm_code_header) return fail(what, "the first entry is not HEADER");
        if (e.typecode == hvm_code_end) {
            if (len != 0) return fail(what, fmt::format("length {} is not 0", len));
            if (pos + hvm_descriptor_size != blob.size())
                return fail(what, fmt::format("{} bytes after END", blob.size() - pos - hvm_descriptor_size));
            return out;
        }
        if (e.typecode == hvm_code_header) {
            if (!out.empty()) return fail(what, "a second HEADER");
            auto h = e.as<hvm_save_header>();
            if (!h) return fail(what, fmt::format("length {} is not {}", len, sizeof(hvm_save_header)));
            if (h->magic != HVM_FILE_MAGIC)
                return fail(what, fmt::format("magic {:#x} is not {:#x}", h->magic, HVM_FILE_MAGIC));
            if (h->version != HVM_FILE_VERSION)
                return fail(what, fmt::format("version {} is not {}", h->version, HVM_FILE_VERSION));
        } else if (auto why = check_size(e.typecode, e.data)) {
            return fail(what, *why);
        }
        std::uint32_t key = std::uint32_t(e.typecode) << 16 | e.instance;
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) return fail(what, "a second entry");
        seen.push_back(key);
        out.push_back(e);
        pos += hvm_descriptor_size + len;
    }
}

} // namespace kxen::toolstack::stream
