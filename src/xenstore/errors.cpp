#include "xenstore/errors.hpp"
#include <iterator>
#include <xen/io/xs_wire.h>   // xsd_errors[] is defined when <cerrno> came first

namespace kxen::xenstore {

std::string_view xs_err_name(XsErr e) {
    for (auto const& row : xsd_errors)
        if (row.errnum == static_cast<int>(e)) return row.errstring;
    return xsd_errors[0].errstring;   // EINVAL, the table's first row
}

XsErr xs_err_from_name(std::string_view name) {
    for (auto const& row : xsd_errors)
        if (name == row.errstring) return static_cast<XsErr>(row.errnum);
    return XsErr::inval;
}

} // namespace kxen::xenstore
