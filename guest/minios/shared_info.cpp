#include "shared_info.hpp"

#include "hypercall.hpp"

namespace minios::shared_info {
namespace {

// A whole page: Xen replaces the RAM frame at this gfn with shared_info.
alignas(4096) constinit uint8_t page[4096]{};

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
