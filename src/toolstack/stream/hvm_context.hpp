// The HVM context blob of an HVM_CONTEXT record: what XEN_DOMCTL_gethvmcontext returns and
// XEN_DOMCTL_sethvmcontext takes. A sequence of entries from <xen/hvm/save.h>, each a
// struct hvm_save_descriptor {typecode, instance, length} and `length` bytes of payload, with
// no padding between them; HEADER first, END (typecode 0, length 0) last. Per-vCPU entries
// (CPU, LAPIC, LAPIC_REGS, MTRR, CPU_XSAVE, CPU_MSR, ...) carry the vCPU id as the instance.
#pragma once
#include "toolstack/stream/stream_error.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include <xen/xen.h>
#include <xen/hvm/save.h>

namespace kxen::toolstack::stream {

inline constexpr std::uint16_t hvm_code_end = 0;
inline constexpr std::uint16_t hvm_code_header = HVM_SAVE_CODE(HEADER);
inline constexpr std::uint16_t hvm_code_cpu = HVM_SAVE_CODE(CPU);
inline constexpr std::uint16_t hvm_code_lapic = HVM_SAVE_CODE(LAPIC);
inline constexpr std::uint16_t hvm_code_lapic_regs = HVM_SAVE_CODE(LAPIC_REGS);
inline constexpr std::uint16_t hvm_code_mtrr = HVM_SAVE_CODE(MTRR);
inline constexpr std::uint16_t hvm_code_xsave = CPU_XSAVE_CODE;
inline constexpr std::uint16_t hvm_code_msr = CPU_MSR_CODE;
inline constexpr std::uint16_t hvm_code_max = HVM_SAVE_CODE_MAX;
inline constexpr std::size_t hvm_descriptor_size = sizeof(hvm_save_descriptor);

// Builds a blob. Errors (a duplicate entry, an unknown typecode, a payload of the wrong size)
// are kept and reported by finish().
class HvmContextBuilder {
public:
    // HEADER: magic and version are filled in; the caller gives cpuid, gtsc_khz, changeset.
    explicit HvmContextBuilder(hvm_save_header hdr);

    HvmContextBuilder& add(std::uint16_t typecode, std::uint16_t instance, std::span<std::byte const> payload);
    template <typename T> HvmContextBuilder& add_struct(std::uint16_t typecode, std::uint16_t instance, T const& v) {
        return add(typecode, instance, std::as_bytes(std::span{&v, 1}));
    }
    HvmContextBuilder& add_cpu(std::uint16_t vcpu, hvm_hw_cpu const& c) { return add_struct(hvm_code_cpu, vcpu, c); }
    HvmContextBuilder& add_lapic(std::uint16_t vcpu, hvm_hw_lapic const& l) { return add_struct(hvm_code_lapic, vcpu, l); }
    HvmContextBuilder& add_lapic_regs(std::uint16_t vcpu, hvm_hw_lapic_regs const& r) {
        return add_struct(hvm_code_lapic_regs, vcpu, r);
    }
    HvmContextBuilder& add_mtrr(std::uint16_t vcpu, hvm_hw_mtrr const& m) { return add_struct(hvm_code_mtrr, vcpu, m); }
    // CPU_XSAVE: the fixed part (xcr0 ..., legacy area and XSAVE header), then the extended
    // state components, whose size depends on xcr0_accum.
    HvmContextBuilder& add_xsave(std::uint16_t vcpu, hvm_hw_cpu_xsave const& fixed, std::span<std::byte const> extended);
    // CPU_MSR: struct hvm_msr with `msrs.size()` entries.
    HvmContextBuilder& add_cpu_msrs(std::uint16_t vcpu, std::span<hvm_msr::hvm_one_msr const> msrs);

    // Appends END and returns the blob.
    StreamResult<std::vector<std::byte>> finish();

private:
    std::vector<std::byte> blob_;
    std::vector<std::uint32_t> seen_;   // typecode << 16 | instance
    std::optional<StreamError> error_;
};

// One entry of a parsed blob; `data` points into the blob.
struct HvmSaveEntry {
    std::uint16_t typecode = 0;
    std::uint16_t instance = 0;
    std::uint64_t offset = 0;   // of the descriptor within the blob
    std::span<std::byte const> data;

    // The payload as T when its size is exactly sizeof(T).
    template <typename T> [[nodiscard]] std::optional<T> as() const {
        if (data.size() != sizeof(T)) return std::nullopt;
        T v;
        std::memcpy(&v, data.data(), sizeof v);
        return v;
    }
};

// Checks a blob as Xen's hvm_load() would, and more strictly: the HEADER entry first with
// Xen's magic and version, known typecodes (0..HVM_SAVE_CODE_MAX) with the payload sizes
// Xen accepts, no duplicate (typecode, instance), an END entry and nothing after it.
// `stream_offset` is where the blob starts in the stream, for the error messages.
// Returns the entries between HEADER and END, HEADER included.
StreamResult<std::vector<HvmSaveEntry>> parse_hvm_context(std::span<std::byte const> blob,
                                                          std::uint64_t stream_offset = 0);

// The name of a typecode: "CPU", "LAPIC_REGS", ...
char const* hvm_code_name(std::uint16_t typecode);

} // namespace kxen::toolstack::stream
