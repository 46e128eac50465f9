#include "xen.hpp"

#include "fmt.hpp"
#include "hypercall.hpp"
#include "x86.hpp"

extern "C" {
extern uint8_t hypercall_page[4096];
extern uint8_t hypercall_ready;
extern uint64_t block_stub;
extern uint32_t block_cmd;
}

namespace minios::xen {

constinit Info info{};

namespace {

bool signature(const x86::Cpuid& r, uint32_t b, uint32_t c, uint32_t d) {
    return r.ebx == b && r.ecx == c && r.edx == d;
}

}  // namespace

// Xen may sit above other signatures (e.g. Viridian at 0x40000000), hence the
// scan in steps of 0x100 as Linux and Mini-OS do.
void detect_ring0() {
    for (uint32_t base = 0x40000000; base < 0x40010000; base += 0x100) {
        auto r = x86::cpuid(base);
        if (!info.kvm_base && signature(r, 0x4b4d564b, 0x564b4d56, 0x4d)) {  // "KVMKVMKVM\0\0\0"
            info.kvm_base = base;
            info.kvm_features = x86::cpuid(base + 1).eax;
        }
        if (!signature(r, 0x566e6558, 0x65584d4d, 0x4d4d566e) || r.eax - base < 2)  // "XenVMMXenVMM"
            continue;
        auto v = x86::cpuid(base + 1);
        auto p = x86::cpuid(base + 2);
        info.cpuid_version = v.eax;
        info.pages = p.eax;
        info.msr = p.ebx;
        if (info.pages < 1) return;
        // The hypervisor fills the page with one 32-byte stub per hypercall.
        x86::wrmsr(info.msr, uint64_t(hypercall_page));
        block_stub = uint64_t(hypercall_page) + __HYPERVISOR_sched_op * HYPERCALL_STUB_SIZE;
        block_cmd = SCHEDOP_block;
        hypercall_ready = 1;
        info.cpuid_base = base;
        return;
    }
}

void version_string(char* buf, unsigned cap) {
    long v = xen_version(XENVER_version, nullptr);
    xen_extraversion_t extra{};
    if (xen_version(XENVER_extraversion, extra) < 0) extra[0] = '\0';
    extra[sizeof(extra) - 1] = '\0';
    if (v < 0) fmt::format(buf, cap, "?(%ld)", v);
    else fmt::format(buf, cap, "%lu.%lu%s", uint64_t(v) >> 16, uint64_t(v) & 0xffff, extra);
}

long get_param(uint32_t index, uint64_t* value) {
    xen_hvm_param p{};
    p.domid = DOMID_SELF;
    p.index = index;
    long rc = hvm_op(HVMOP_get_param, &p);
    *value = rc < 0 ? 0 : p.value;
    return rc;
}

}  // namespace minios::xen
