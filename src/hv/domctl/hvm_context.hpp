// A domain's HVM save records (public/hvm/save.h): what XEN_DOMCTL_gethvmcontext returns and
// sethvmcontext loads.
#pragma once
#include <cstdint>
#include <span>
#include <vector>
#include "common/xen_err.hpp"

namespace kxen::hv {

class Domain;

// The domain must be paused or shut down.
// kxend does not model MTRRs (guest memory is write-back on the host whatever the guest
// sets): a vCPU's MTRR record is the power-on state Xen gives a new vCPU, and MTRR records
// loaded are ignored.
hvm_hw_mtrr default_mtrr();

XenResult<std::vector<std::uint8_t>> save_hvm_context(Domain& d);
// The domain must be paused. Nothing is loaded unless the whole blob is well formed.
XenResult<void> load_hvm_context(Domain& d, std::span<std::uint8_t const> blob);

} // namespace kxen::hv
