// hcall-fuzz: every hypercall number 0..63, `rounds` times each (default 16), with
// xorshift garbage (seed=) from ring 0. Half the calls get raw garbage (pointers
// that are small, non-canonical, or into unbacked guest-physical space); the other
// half point one argument at a scratch buffer of random bytes with the remaining
// arguments small (< 64), so the hypervisor parses garbage structs and sub-ops.
// Only calls that would legitimately stop or dismantle this guest are skipped.
// Passing means: still alive afterwards. Keys: rounds=, seed=, first=/last= (the
// range of hypercall numbers), verbose=1 (print every call before making it).
#include "../boot_info.hpp"
#include "../cmdline.hpp"
#include "../console.hpp"
#include "../evtchn.hpp"
#include "../hypercall.hpp"
#include "../lib.hpp"
#include "../time.hpp"
#include "../xen.hpp"
#include "test.hpp"

namespace minios::tests {
namespace {

constexpr unsigned kHypercalls = 64;
// Pointers aim into the first half only, and arguments next to one stay below 64,
// so a hypervisor that writes back `count` structs stays inside the buffer.
constexpr uint64_t kScratchHalf = 4096;
alignas(4096) constinit uint8_t scratch[2 * kScratchHalf]{};

// Xen's MEMOP_CMD_MASK (not in the public headers): the rest of the word is the
// continuation's start extent.
constexpr uint64_t kMemopCmdMask = 0x3f;

struct Counts {
    uint32_t calls, skipped, zero, positive, enosys, efault, einval, eperm, other;
};
constinit Counts counts[kHypercalls]{};

bool in_scratch(uint64_t a) { return a - uint64_t(scratch) < sizeof(scratch); }

const char* skip_reason(unsigned nr, const uint64_t* a) {
    int const cmd = int(a[0]);
    switch (nr) {
    case __HYPERVISOR_sched_op:
    case __HYPERVISOR_sched_op_compat:
        if (cmd == SCHEDOP_block || cmd == SCHEDOP_poll) return "would block";
        if (cmd == SCHEDOP_shutdown || cmd == SCHEDOP_remote_shutdown) return "would shut down";
        if (cmd == SCHEDOP_watchdog) return "would arm a domain watchdog";
        return nullptr;
    case __HYPERVISOR_vcpu_op:
        if (cmd == VCPUOP_initialise || cmd == VCPUOP_up || cmd == VCPUOP_down) return "would start/stop a vCPU";
        if (cmd == VCPUOP_register_vcpu_info) return "would move vcpu_info";
        if (cmd == VCPUOP_send_nmi) return "would NMI us";
        return nullptr;
    case __HYPERVISOR_memory_op:
        switch (a[0] & kMemopCmdMask) {
        case XENMEM_decrease_reservation:
        case XENMEM_populate_physmap:
        case XENMEM_exchange:
        case XENMEM_remove_from_physmap:
        case XENMEM_add_to_physmap:
        case XENMEM_add_to_physmap_batch:
        case XENMEM_acquire_resource:
            return "would change our physmap";
        }
        return nullptr;
    case __HYPERVISOR_console_io:
        if (cmd == CONSOLEIO_write && in_scratch(a[2])) return "would print garbage";
        return nullptr;
    }
    return nullptr;
}

struct Generator {
    lib::Rng rng;
    uint64_t unbacked_lo, unbacked_hi;  // mapped in our page tables, no RAM behind it

    uint64_t raw() {
        switch (rng.next() % 5) {
        case 0: return rng.next() % 64;
        case 1: return rng.next();
        case 2: return unbacked_hi > unbacked_lo ? unbacked_lo + rng.next() % (unbacked_hi - unbacked_lo) : rng.next();
        case 3: {
            static constexpr uint64_t edges[] = {0, ~0ull, 1ull << 63, 0x7fffffff, 0x80000000, 0xffffffff,
                                                 0x1000, 0xfff, 0x0000800000000000ull, 0xffff800000000000ull};
            return edges[rng.next() % lib::size(edges)];
        }
        default: return rng.next() & 0xffffffff;
        }
    }

    void fill(uint64_t* a) {
        if (rng.next() & 1) {
            for (int i = 0; i < 5; ++i) a[i] = raw();
            return;
        }
        for (int i = 0; i < 5; ++i) a[i] = rng.next() % 64;
        uint64_t off = rng.next() % kScratchHalf;
        if (rng.next() % 4) off &= ~uint64_t{7};
        a[rng.next() % 5] = uint64_t(scratch) + off;
        auto* q = reinterpret_cast<uint64_t*>(scratch);
        for (size_t i = 0; i < sizeof(scratch) / 8; ++i) q[i] = rng.next();
    }
};

void count(Counts& c, long rc) {
    ++c.calls;
    if (rc == 0) ++c.zero;
    else if (rc > 0) ++c.positive;
    else if (rc == -XEN_ENOSYS) ++c.enosys;
    else if (rc == -XEN_EFAULT) ++c.efault;
    else if (rc == -XEN_EINVAL) ++c.einval;
    else if (rc == -XEN_EPERM) ++c.eperm;
    else ++c.other;
}

}  // namespace

void hcall_fuzz() {
    if (!xen::present()) skip("needs Xen");
    uint64_t rounds, seed, first, last, verbose;
    if (!cmdline::get_u64("rounds", 16, &rounds)) fail("bad rounds");
    if (!cmdline::get_u64("seed", 0x6b78656e66757a7aull, &seed)) fail("bad seed");
    if (!cmdline::get_u64("first", 0, &first) || !cmdline::get_u64("last", kHypercalls - 1, &last) ||
        last >= kHypercalls || first > last)
        fail("bad first/last (0..%u)", kHypercalls - 1);
    if (!cmdline::get_u64("verbose", 0, &verbose)) fail("bad verbose");
    Generator g{{seed ? seed : 1}, 0, 0xfec00000};
    g.unbacked_lo = boot_info::info.ram_top > 0x40000000 ? boot_info::info.ram_top : 0x40000000;
    console::println("hcall-fuzz: hypercalls %lu..%lu, %lu rounds, seed 0x%lx", first, last, rounds, seed);

    uint64_t const t0 = time::now_ns();
    // Every number draws the same amount of randomness whatever first/last say, so
    // a call seen in a full run is reproduced by a narrowed one.
    for (unsigned nr = 0; nr <= last; ++nr) {
        for (uint64_t r = 0; r < rounds; ++r) {
            uint64_t a[5];
            g.fill(a);
            if (nr < first) continue;
            if (const char* why = skip_reason(nr, a)) {
                if (verbose) console::println("hcall-fuzz: nr %u round %lu: skipped, %s", nr, r, why);
                ++counts[nr].skipped;
                continue;
            }
            if (verbose)
                console::println("hcall-fuzz: nr %u round %lu: (0x%lx, 0x%lx, 0x%lx, 0x%lx, 0x%lx)%s", nr, r, a[0], a[1],
                                 a[2], a[3], a[4], in_scratch(a[0]) || in_scratch(a[1]) || in_scratch(a[2]) ||
                                                           in_scratch(a[3]) || in_scratch(a[4])
                                                       ? " [scratch]"
                                                       : "");
            long rc = sys::hypercall(nr, a[0], a[1], a[2], a[3], a[4]);
            if (verbose) console::println("hcall-fuzz:   -> %ld", rc);
            count(counts[nr], rc);
        }
    }
    uint64_t const elapsed = time::now_ns() - t0;

    // Undo what the garbage may legitimately have armed.
    xen::vcpu_op(VCPUOP_stop_periodic_timer, 0, nullptr);
    xen::vcpu_op(VCPUOP_stop_singleshot_timer, 0, nullptr);
    xen::set_timer_op(0);

    Counts total{};
    unsigned enosys_only = 0;
    for (unsigned nr = unsigned(first); nr <= last; ++nr) {
        auto const& c = counts[nr];
        total.calls += c.calls, total.skipped += c.skipped, total.zero += c.zero, total.positive += c.positive;
        total.enosys += c.enosys, total.efault += c.efault, total.einval += c.einval, total.eperm += c.eperm;
        total.other += c.other;
        if (c.enosys == c.calls) {
            ++enosys_only;
            continue;
        }
        console::println("hcall-fuzz: nr %2u: calls %u skipped %u | 0:%u >0:%u ENOSYS:%u EFAULT:%u EINVAL:%u "
                         "EPERM:%u other:%u",
                         nr, c.calls, c.skipped, c.zero, c.positive, c.enosys, c.efault, c.einval, c.eperm, c.other);
    }
    console::println("hcall-fuzz: %u calls (%u skipped) in %lu ms; %u hypercall numbers only ever said ENOSYS; "
                     "%lu upcalls",
                     total.calls, total.skipped, elapsed / 1'000'000, enosys_only, evtchn::upcalls());
    if (uint64_t n = evtchn::upcalls_with_if_clear())
        fail("%lu upcalls were injected while interrupts were disabled", n);
    // Still here, console still works: pass.
}

}  // namespace minios::tests
