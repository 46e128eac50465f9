// vmcall: executes vmcall in ring 0 with a real hypercall (xen_version). On Xen and on kxen's
// software vCPU that is a hypercall and returns Xen's version; on kvm_pvm hosts it never
// completes, so the hypervisor must notice the stuck vCPU and crash the domain.
#include "../sys.hpp"
#include "test.hpp"

namespace minios::tests {
namespace {

[[gnu::noinline]] uint64_t vmcall_ring0(uint64_t, uint64_t, uint64_t, uint64_t) {
    uint64_t rax = 17;  // __HYPERVISOR_xen_version
    uint64_t rdi = 0;   // XENVER_version
    asm volatile("vmcall" : "+a"(rax), "+D"(rdi)::"memory");
    return rax;
}

}  // namespace

void vmcall() {
    running();
    uint64_t r = sys::ring0(vmcall_ring0);
    if (sys::is_fault(r)) fail("vmcall raised exception %lu instead of making a hypercall", r & 0xff);
    if (r != ((4u << 16) | 17u)) fail("vmcall returned 0x%lx, not Xen's version", r);
    pass();
}

}  // namespace minios::tests
