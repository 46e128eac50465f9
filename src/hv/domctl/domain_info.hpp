// XEN_DOMCTL_getdomaininfo's record, shared with XEN_SYSCTL_getdomaininfolist.
#pragma once
#include <cstdint>
#include <xen/domctl.h>

namespace kxen::hv {
class Domain;
class Hv;
xen_domctl_getdomaininfo_t domain_info(Domain& d);
// dom0 is the host: its processes are dom0 userspace (DESIGN.md sec. 2). Xen's tools expect
// it in every domain list (xl list, xenstored's liveness check), with the host's CPUs and
// memory in use.
xen_domctl_getdomaininfo_t dom0_info(Hv& hv);
}
