// minios::shared_info: Xen's shared_info page, mapped over a page of our own BSS
// with XENMEM_add_to_physmap. Ring 3 reads it directly (pvclock, event bits).
#pragma once
#include "xen_abi.hpp"

namespace minios::shared_info {

// The hypervisor writes it behind our back: every access is volatile.
volatile shared_info_t* get();
uint64_t gfn();
// Returns the hypercall's result (0 on success).
long map();

}  // namespace minios::shared_info
