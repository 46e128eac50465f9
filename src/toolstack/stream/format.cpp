#include "toolstack/stream/format.hpp"

#include <fmt/format.h>

namespace kxen::toolstack::stream {

std::string libxc_type_name(std::uint32_t type) {
    static constexpr std::array<std::string_view, 0x13> names{
        "END", "PAGE_DATA", "X86_PV_INFO", "X86_PV_P2M_FRAMES", "X86_PV_VCPU_BASIC",
        "X86_PV_VCPU_EXTENDED", "X86_PV_VCPU_XSAVE", "SHARED_INFO", "X86_TSC_INFO",
        "HVM_CONTEXT", "HVM_PARAMS", "TOOLSTACK", "X86_PV_VCPU_MSRS", "VERIFY", "CHECKPOINT",
        "CHECKPOINT_DIRTY_PFN_LIST", "STATIC_DATA_END", "X86_CPUID_POLICY", "X86_MSR_POLICY"};
    if (type < names.size()) return std::string(names[type]);
    return fmt::format("{} type {:#010x}", type & rec_optional_bit ? "optional" : "mandatory", type);
}

std::string libxl_type_name(std::uint32_t type) {
    static constexpr std::array<std::string_view, 6> names{
        "END", "LIBXC_CONTEXT", "EMULATOR_XENSTORE_DATA", "EMULATOR_CONTEXT", "CHECKPOINT_END",
        "CHECKPOINT_STATE"};
    if (type < names.size()) return std::string(names[type]);
    return fmt::format("{} type {:#010x}", type & rec_optional_bit ? "optional" : "mandatory", type);
}

} // namespace kxen::toolstack::stream
