// minios::xen: typed Xen hypercalls (64-bit ABI: rdi, rsi, rdx, r10, r8 -> rax,
// negative Xen errno on failure). Pointers are guest-virtual, which is also
// guest-physical here (identity map), so ring-3 buffers are fine.
#pragma once
#include "sys.hpp"
#include "xen_abi.hpp"

namespace minios::xen {

inline long xen_version(int cmd, void* arg) {
    return sys::hypercall(__HYPERVISOR_xen_version, uint64_t(cmd), sys::arg(arg));
}
inline long console_io(int cmd, size_t len, const char* buf) {
    return sys::hypercall(__HYPERVISOR_console_io, uint64_t(cmd), len, uint64_t(buf));
}
inline long sched_op(int cmd, void* arg) {
    return sys::hypercall(__HYPERVISOR_sched_op, uint64_t(cmd), sys::arg(arg));
}
inline long vcpu_op(int cmd, unsigned vcpu, void* arg) {
    return sys::hypercall(__HYPERVISOR_vcpu_op, uint64_t(cmd), vcpu, sys::arg(arg));
}
inline long memory_op(unsigned cmd, void* arg) {
    return sys::hypercall(__HYPERVISOR_memory_op, cmd, sys::arg(arg));
}
inline long event_channel_op(int cmd, void* arg) {
    return sys::hypercall(__HYPERVISOR_event_channel_op, uint64_t(cmd), sys::arg(arg));
}
inline long hvm_op(unsigned cmd, void* arg) {
    return sys::hypercall(__HYPERVISOR_hvm_op, cmd, sys::arg(arg));
}
inline long grant_table_op(unsigned cmd, void* uop, unsigned count) {
    return sys::hypercall(__HYPERVISOR_grant_table_op, cmd, sys::arg(uop), count);
}
inline long set_timer_op(uint64_t timeout_ns) { return sys::hypercall(__HYPERVISOR_set_timer_op, timeout_ns); }

}  // namespace minios::xen
