// Hypercall argument decoding with the caller's memory supplied by the fuzzer: the handlers
// for memory_op, grant_table_op, event_channel_op, sched_op, vcpu_op, hvm_op, console_io,
// xen_version, set_timer_op, domctl and sysctl, called as dom0 (over privcmd) and as domain 1
// from its vCPU 0. Every pointer, count and index in the arguments and in the structures they
// point to is the fuzzer's. Domain 1 is fresh for each input and stays paused: a domctl that
// would unpause it is skipped, so no vCPU runs and every input is independent of threads.
// The input is a list of steps, an opcode byte and its operands:
//   0  write bytes into the caller's memory (u16 offset, u8 length, bytes)
//   1  a hypercall from dom0     2  the same from domain 1's vCPU 0
//      operands: u8 which hypercall, u8 width mask, five arguments (u64 where the mask has
//      the argument's bit, else u16: offsets into the 64 KiB memory and sub-op numbers)
//   3  write a u64 into the caller's memory (u16 offset, u64 value): a guest handle
#include <cstdint>
#include <xen/domctl.h>
#include <xen/xen.h>
#include "fuzz_input.hpp"
#include "hv_fixture.hpp"

using namespace kxen;

namespace {

constexpr std::uint64_t hypercalls[] = {
    __HYPERVISOR_memory_op, __HYPERVISOR_grant_table_op, __HYPERVISOR_event_channel_op,
    __HYPERVISOR_sched_op,  __HYPERVISOR_vcpu_op,        __HYPERVISOR_hvm_op,
    __HYPERVISOR_domctl,    __HYPERVISOR_sysctl,         __HYPERVISOR_xen_version,
    __HYPERVISOR_console_io, __HYPERVISOR_set_timer_op,
};
constexpr std::size_t memory_size = 64 * 1024;

// A domctl that starts a vCPU: its run would depend on timing, not on the input.
bool starts_a_vcpu(fuzz::Memory& mem, std::uint64_t nr, hv::Args const& a) {
    if (nr != __HYPERVISOR_domctl) return false;
    std::uint32_t cmd = 0;
    if (!mem.read(a[0], &cmd, sizeof cmd)) return false;
    return cmd == XEN_DOMCTL_unpausedomain || cmd == XEN_DOMCTL_resumedomain;
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)fuzz::the_hv();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    fuzz::Input in{data, size};
    auto& hv = fuzz::the_hv();
    auto dom = fuzz::fresh_domain();
    {
        fuzz::Memory mem{memory_size};
        for (int step = 0; step < 256 && !in.empty(); ++step) {
            std::uint8_t const op = in.u8() % 4;
            switch (op) {
            case 0: {
                auto off = in.u16();
                auto b = in.bytes(in.u8());
                (void)mem.write(off, b.data(), b.size());
                break;
            }
            case 3: {
                auto off = in.u16();
                auto v = in.u64();
                (void)mem.write(off, &v, sizeof v);
                break;
            }
            default: {
                bool const as_guest = op == 2;
                std::uint8_t const which = in.u8();
                std::uint64_t const nr = which < 0xf0 ? hypercalls[which % std::size(hypercalls)] : which - 0xf0 + 40;
                std::uint8_t const wide = in.u8();
                hv::Args a{};
                for (int i = 0; i < 5; ++i) a[i] = (wide >> i) & 1 ? in.u64() : in.u16();
                if (starts_a_vcpu(mem, nr, a)) break;
                // The domain may have been destroyed by an earlier step.
                if (as_guest && hv.lookup(1) == dom && !dom->dying()) {
                    hv::Caller c{hv, dom.get(), dom->vcpu(0), mem};
                    (void)hv::hypercall(c, nr, a);
                } else {
                    hv::Caller c{hv, nullptr, nullptr, mem};
                    (void)hv::hypercall(c, nr, a);
                }
                break;
            }
            }
        }
    }
    dom.reset();
    fuzz::reset_hv();
    return 0;
}
