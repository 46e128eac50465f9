// HYPERVISOR_xen_version (public/version.h). kxen reports the Xen 4.17 ABI it implements.
#include <cstdint>
#include <cstring>
#include <xen/features.h>
#include <xen/version.h>
#include <string>
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"
#include "hv/hypercall/hypercall.hpp"

namespace kxen::hv {
namespace {
template <std::size_t N> long put_string(Caller& c, std::uint64_t arg, char const* s) {
    char buf[N]{};
    std::strncpy(buf, s, N - 1);
    return c.mem.write(arg, buf, N) ? 0 : xen_ret(XenErr::fault);
}
} // namespace

long do_xen_version(Caller& c, Args const& a) {
    auto arg = a[1];
    switch (a[0]) {
    case XENVER_version: return (4 << 16) | 17;
    case XENVER_extraversion: return put_string<sizeof(xen_extraversion_t)>(c, arg, ".0-kxen");
    case XENVER_capabilities:
        return put_string<sizeof(xen_capabilities_info_t)>(c, arg, "hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64");
    case XENVER_changeset: return put_string<sizeof(xen_changeset_info_t)>(c, arg, "kxen");
    case XENVER_compile_info: {
        xen_compile_info_t ci{};
        std::strcpy(ci.compiler, "gcc");
        std::strcpy(ci.compile_by, "kxen");
        std::strcpy(ci.compile_domain, "kxen");
        std::strcpy(ci.compile_date, __DATE__);
        return c.mem.copy_to(arg, ci) ? 0 : xen_ret(XenErr::fault);
    }
    case XENVER_platform_parameters: {
        xen_platform_parameters_t p{};
        p.virt_start = 0xffff800000000000ull;   // Xen's HYPERVISOR_VIRT_START on x86-64
        return c.mem.copy_to(arg, p) ? 0 : xen_ret(XenErr::fault);
    }
    case XENVER_get_features: {
        auto fi = c.mem.copy_from<xen_feature_info_t>(arg);
        if (!fi) return xen_ret(XenErr::fault);
        fi->submap = 0;
        if (fi->submap_idx == 0)
            fi->submap = (1u << XENFEAT_writable_page_tables) | (1u << XENFEAT_auto_translated_physmap) |
                         (1u << XENFEAT_supervisor_mode_kernel) | (1u << XENFEAT_hvm_callback_vector) |
                         (1u << XENFEAT_hvm_safe_pvclock);
        return c.mem.copy_to(arg, *fi) ? 0 : xen_ret(XenErr::fault);
    }
    case XENVER_pagesize: return 4096;
    case XENVER_guest_handle: {
        xen_domain_handle_t h{};
        if (c.dom) std::memcpy(h, c.dom->handle, sizeof h);
        return c.mem.write(arg, h, sizeof h) ? 0 : xen_ret(XenErr::fault);
    }
    case XENVER_commandline:
        if (!c.privileged()) return xen_ret(XenErr::perm);
        // Xen's boot options; kxend's say which accelerator runs the guests.
        return put_string<sizeof(xen_commandline_t)>(c, arg, (std::string("accel=") + c.hv.accel().name()).c_str());
    case XENVER_build_id:
        return c.privileged() ? xen_ret(XenErr::nodata) : xen_ret(XenErr::perm);
    default: return xen_ret(XenErr::nosys);
    }
}

} // namespace kxen::hv
