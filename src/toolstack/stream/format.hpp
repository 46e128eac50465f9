// The Xen migration v2 stream: xl's save-file header, the libxl stream
// (docs/specs/libxl-migration-stream.pandoc) and the libxc stream it carries
// (docs/specs/libxc-migration-stream.pandoc, version 3 as Xen 4.17 writes it).
// Constants and the typed bodies of the records that the writer and the reader share.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kxen::toolstack::stream {

// ---- xl's save-file header (tools/xl/xl_saverestore.c) ----
inline constexpr std::string_view xl_magic{"Xen saved domain, xl format\n \0 \r", 32};
inline constexpr std::uint32_t xl_byteorder = 0x01020304;   // as a native (LE) u32
inline constexpr std::uint32_t xl_flag_json = 1u << 0;      // XL_MANDATORY_FLAG_JSON
inline constexpr std::uint32_t xl_flag_streamv2 = 1u << 1;  // XL_MANDATORY_FLAG_STREAMv2
inline constexpr std::uint32_t xl_flags_known = xl_flag_json | xl_flag_streamv2;
inline constexpr std::size_t xl_header_size = 32 + 16;
// A domain config is a few KiB; a larger optional-data length is a corrupt header.
inline constexpr std::uint32_t xl_optional_data_max = 16u << 20;

struct XlHeader {
    std::uint32_t mandatory_flags = xl_flag_streamv2;
    std::uint32_t optional_flags = 0;
    // The domain configuration: libxl JSON when mandatory_flags has xl_flag_json (the
    // writer then adds the NUL that xl includes in the length), xl.cfg text otherwise.
    // Empty when the save file carries no config.
    std::string config;
    [[nodiscard]] bool json() const { return (mandatory_flags & xl_flag_json) != 0; }
};

// ---- common record framing ----
inline constexpr std::uint32_t rec_optional_bit = 0x80000000u;
inline constexpr std::size_t rec_align = 8;
// Xen's REC_LENGTH_MAX: no record body is larger.
inline constexpr std::uint32_t record_length_max = 128u << 20;
constexpr std::uint64_t rec_padded(std::uint64_t len) { return (len + rec_align - 1) & ~std::uint64_t(rec_align - 1); }

// ---- libxl stream ----
inline constexpr std::uint64_t libxl_ident = 0x4c6962786c466d74ull;   // "LibxlFmt"
inline constexpr std::uint32_t libxl_version = 2;
inline constexpr std::uint32_t libxl_opt_big_endian = 1u << 0;
inline constexpr std::uint32_t libxl_opt_legacy = 1u << 1;

enum class LibxlType : std::uint32_t {
    end = 0,
    libxc_context = 1,
    emulator_xenstore_data = 2,
    emulator_context = 3,
    checkpoint_end = 4,
    checkpoint_state = 5,
};
std::string libxl_type_name(std::uint32_t type);

enum class EmulatorId : std::uint32_t { unknown = 0, qemu_traditional = 1, qemu_upstream = 2 };

struct LibxlHeader {
    std::uint32_t options = 0;   // libxl_opt_*; big-endian streams are refused
};

// ---- libxc stream ----
inline constexpr std::uint64_t libxc_marker = 0xffffffffffffffffull;
inline constexpr std::uint32_t libxc_ident = 0x58454e46;   // "XENF"
inline constexpr std::uint32_t libxc_version = 3;
inline constexpr std::uint16_t libxc_opt_big_endian = 1u << 0;
inline constexpr std::size_t libxc_image_header_size = 24;
inline constexpr std::size_t libxc_domain_header_size = 16;

enum class DomainType : std::uint32_t { x86_pv = 1, x86_hvm = 2, x86_pvh = 3, arm = 4 };

struct LibxcHeader {
    std::uint32_t version = libxc_version;   // 2 or 3
    DomainType type = DomainType::x86_hvm;
    std::uint16_t page_shift = 12;
    std::uint32_t xen_major = 4;   // 0: converted from a legacy stream
    std::uint32_t xen_minor = 17;
};

enum class LibxcType : std::uint32_t {
    end = 0x00,
    page_data = 0x01,
    x86_pv_info = 0x02,
    x86_pv_p2m_frames = 0x03,
    x86_pv_vcpu_basic = 0x04,
    x86_pv_vcpu_extended = 0x05,
    x86_pv_vcpu_xsave = 0x06,
    shared_info = 0x07,
    x86_tsc_info = 0x08,
    hvm_context = 0x09,
    hvm_params = 0x0a,
    toolstack = 0x0b,
    x86_pv_vcpu_msrs = 0x0c,
    verify = 0x0d,
    checkpoint = 0x0e,
    checkpoint_dirty_pfn_list = 0x0f,
    static_data_end = 0x10,
    x86_cpuid_policy = 0x11,
    x86_msr_policy = 0x12,
};
std::string libxc_type_name(std::uint32_t type);

// PAGE_DATA: each pfn word carries a XEN_DOMCTL_PFINFO_* type in bits 63-60.
inline constexpr std::uint64_t page_pfn_mask = (1ull << 52) - 1;
inline constexpr std::uint64_t page_reserved_mask = ((1ull << 60) - 1) & ~page_pfn_mask;
inline constexpr unsigned page_type_shift = 60;
inline constexpr std::size_t page_size = 4096;
// Xen's saver sends at most MAX_BATCH_SIZE pages per record.
inline constexpr std::uint32_t page_batch_max = 1024;

enum class PageType : std::uint8_t {   // XEN_DOMCTL_PFINFO_* >> 28
    notab = 0x0, l1tab = 0x1, l2tab = 0x2, l3tab = 0x3, l4tab = 0x4,
    l1tab_pin = 0x9, l2tab_pin = 0xa, l3tab_pin = 0xb, l4tab_pin = 0xc,
    broken = 0xd, xalloc = 0xe, xtab = 0xf,
};
// 0x5-0x8 are reserved; a stream using them is refused.
constexpr bool page_type_known(unsigned t) { return t <= 0x4 || (t >= 0x9 && t <= 0xf); }
// BROKEN, XALLOC and XTAB pages have no data in the record.
constexpr bool page_type_has_data(unsigned t) { return t <= 0x4 || (t >= 0x9 && t <= 0xc); }

struct PageEntry {
    std::uint64_t pfn = 0;
    PageType type = PageType::notab;
    auto operator<=>(PageEntry const&) const = default;
};

struct PageDataRecord {
    std::vector<PageEntry> pages;
    // page_size bytes for each page whose type has data, in the order of `pages`.
    std::vector<std::byte> data;
};

struct TscInfoRecord {   // XEN_DOMCTL_{get,set}tscinfo
    std::uint32_t mode = 0;   // TSC_MODE_*
    std::uint32_t khz = 0;
    std::uint64_t nsec = 0;
    std::uint32_t incarnation = 0;
    auto operator<=>(TscInfoRecord const&) const = default;
};

struct HvmContextRecord {   // the XEN_DOMCTL_{get,set}hvmcontext blob (see hvm_context.hpp)
    std::vector<std::byte> blob;
};

struct HvmParam {
    std::uint64_t index = 0;   // HVM_PARAM_*
    std::uint64_t value = 0;
    auto operator<=>(HvmParam const&) const = default;
};
struct HvmParamsRecord {
    std::vector<HvmParam> params;
};

struct CpuidLeaf {   // xen_cpuid_leaf_t
    std::uint32_t leaf = 0, subleaf = 0, a = 0, b = 0, c = 0, d = 0;
    auto operator<=>(CpuidLeaf const&) const = default;
};
inline constexpr std::uint32_t cpuid_no_subleaf = 0xffffffffu;
struct CpuidPolicyRecord {
    std::vector<CpuidLeaf> leaves;
};

struct MsrEntry {   // xen_msr_entry_t; its flags field is reserved and must be zero
    std::uint32_t idx = 0;
    std::uint64_t val = 0;
    auto operator<=>(MsrEntry const&) const = default;
};
struct MsrPolicyRecord {
    std::vector<MsrEntry> msrs;
};

struct StaticDataEndRecord {};
struct CheckpointRecord {};
struct VerifyRecord {};
struct EndRecord {};
// A record with bit 31 of its type set that this reader does not know. Its body has been
// skipped, as the spec allows for optional records.
struct OptionalRecord {
    std::uint32_t type = 0;
    std::uint32_t length = 0;
};

using LibxcRecord = std::variant<PageDataRecord, TscInfoRecord, HvmContextRecord, HvmParamsRecord,
                                 CpuidPolicyRecord, MsrPolicyRecord, StaticDataEndRecord,
                                 CheckpointRecord, VerifyRecord, EndRecord, OptionalRecord>;

// ---- libxl records ----
struct LibxcContextRecord {};
struct EmulatorXenstoreDataRecord {
    EmulatorId emulator = EmulatorId::qemu_upstream;
    std::uint32_t index = 0;
    // Keys relative to the device model's xenstore directory.
    std::vector<std::pair<std::string, std::string>> entries;
};
struct EmulatorContextRecord {
    EmulatorId emulator = EmulatorId::qemu_upstream;
    std::uint32_t index = 0;
    std::vector<std::byte> blob;
};
struct CheckpointEndRecord {};
// libxl_sr_checkpoint_state: COLO's back channel.
inline constexpr std::uint32_t checkpoint_state_max = 2;   // SVM_SUSPENDED, READY, RESUMED
struct CheckpointStateRecord {
    std::uint32_t id = 0;
};

using LibxlRecord = std::variant<LibxcContextRecord, EmulatorXenstoreDataRecord,
                                 EmulatorContextRecord, CheckpointEndRecord, CheckpointStateRecord,
                                 EndRecord, OptionalRecord>;

} // namespace kxen::toolstack::stream
