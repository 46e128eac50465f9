// vmcall: executes vmcall in ring 0. On our hosts it never completes, so the
// hypervisor must notice the stuck vCPU and crash the domain; getting past it fails.
#include "../sys.hpp"
#include "test.hpp"

namespace minios::tests {
namespace {

[[gnu::noinline]] uint64_t vmcall_ring0(uint64_t, uint64_t, uint64_t, uint64_t) {
    uint64_t rax = 0;  // what KVM would take as a KVM hypercall number
    asm volatile("vmcall" : "+a"(rax)::"memory");
    return rax;
}

}  // namespace

void vmcall() {
    running();
    uint64_t r = sys::ring0(vmcall_ring0);
    if (sys::is_fault(r)) fail("vmcall raised exception %lu instead of stopping the domain", r & 0xff);
    fail("vmcall returned 0x%lx", r);
}

}  // namespace minios::tests
