#include "shared_info.hpp"

#include <stddef.h>

#include "abi.h"
#include "hypercall.hpp"

// A whole page: Xen replaces the RAM frame at this gfn with shared_info. extern "C":
// entry.S's upcall clears evtchn_upcall_pending in it.
extern "C" {
alignas(4096) constinit uint8_t shared_info_page[4096]{};
}
static_assert(offsetof(shared_info_t, vcpu_info[0].evtchn_upcall_pending) == SHINFO_UPCALL_PENDING);

namespace minios::shared_info {
namespace {

uint8_t* const page = shared_info_page;

}  // namespace

volatile shared_info_t* get() { return reinterpret_cast<volatile shared_info_t*>(page); }

uint64_t gfn() { return uint64_t(page) >> 12; }

long map() {
    xen_add_to_physmap xatp{};
    xatp.domid = DOMID_SELF;
    xatp.space = XENMAPSPACE_shared_info;
    xatp.idx = 0;
    xatp.gpfn = gfn();
    return xen::memory_op(XENMEM_add_to_physmap, &xatp);
}

}  // namespace minios::shared_info
