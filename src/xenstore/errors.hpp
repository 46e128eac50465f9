// kxen::xenstore::XsErr: what a xenstore client is told when a request fails. The wire carries
// the errno's name ("ENOENT"), as listed in Xen's xsd_errors table (io/xs_wire.h).
#pragma once
#include <cerrno>
#include <cstdint>
#include <expected>
#include <string_view>

namespace kxen::xenstore {

enum class XsErr : int {
    inval = EINVAL,
    acces = EACCES,
    exist = EEXIST,
    isdir = EISDIR,
    noent = ENOENT,
    nomem = ENOMEM,
    nospc = ENOSPC,
    io = EIO,
    notempty = ENOTEMPTY,
    nosys = ENOSYS,
    rofs = EROFS,
    busy = EBUSY,
    again = EAGAIN,
    isconn = EISCONN,
    e2big = E2BIG,
    perm = EPERM,
};

template <typename T> using XsResult = std::expected<T, XsErr>;
inline std::unexpected<XsErr> xs_fail(XsErr e) { return std::unexpected(e); }

// The name sent in an XS_ERROR reply. Like Xen's send_error(), an errno that the table does
// not list is sent as "EINVAL".
std::string_view xs_err_name(XsErr e);
// The reverse, for clients and tests; EINVAL for an unknown name.
XsErr xs_err_from_name(std::string_view name);

} // namespace kxen::xenstore
