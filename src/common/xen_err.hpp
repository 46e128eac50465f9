// kxen::XenErr: what a guest or dom0 caller is told, with values from Xen's public/errno.h.
#pragma once
#include <expected>

namespace kxen {

enum class XenErr : int {
    perm = 1,      // XEN_EPERM
    noent = 2,     // XEN_ENOENT
    srch = 3,      // XEN_ESRCH
    intr = 4,
    io = 5,
    nxio = 6,
    e2big = 7,
    badf = 9,
    again = 11,
    nomem = 12,
    acces = 13,
    fault = 14,
    busy = 16,
    exist = 17,
    xdev = 18,
    nodev = 19,
    inval = 22,
    nfile = 23,
    mfile = 24,
    nospc = 28,
    range = 34,
    nosys = 38,
    notempty = 39,
    nobufs = 105,
    nodata = 61,
    overflow = 75,
    opnotsupp = 95,
    timedout = 110,
};

template <typename T> using XenResult = std::expected<T, XenErr>;

inline std::unexpected<XenErr> xen_fail(XenErr e) { return std::unexpected(e); }
// The value a hypercall returns for an error: Xen returns -errno in RAX.
constexpr long xen_ret(XenErr e) { return -static_cast<long>(e); }

} // namespace kxen
