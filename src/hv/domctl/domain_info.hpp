// XEN_DOMCTL_getdomaininfo's record, shared with XEN_SYSCTL_getdomaininfolist.
#pragma once
#include <cstdint>
#include <xen/domctl.h>

namespace kxen::hv {
class Domain;
xen_domctl_getdomaininfo_t domain_info(Domain& d);
}
