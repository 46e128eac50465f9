// kxenstored's DomainPort on kxen: the guest's store page through a foreign mapping and its
// store event channel bound through kxend's privcmd socket (as xenstored uses
// xenforeignmemory and /dev/xen/evtchn on Xen).
#pragma once
#include "privcmd/client.hpp"
#include "xenstore/domain_port.hpp"

namespace kxen::xenstore {

// The factory for XS_INTRODUCE: `mfn` is the guest's store gfn (HVM_PARAM_STORE_PFN), `port`
// the guest's store port offered to dom0. The client must outlive every port it makes.
DomainPortFactory privcmd_domain_ports(privcmd::Client& c);

} // namespace kxen::xenstore
