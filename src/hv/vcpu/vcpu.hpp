// kxen::hv::Vcpu: one virtual CPU of a domain: its accelerator vCPU, Xen per-vCPU state and timers.
#pragma once
#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <xen/xen.h>
#include <xen/vcpu.h>
#include <xen/hvm/hvm_vcpu.h>
#include <xen/hvm/save.h>
#include "common/xen_err.hpp"
#include "accel/accel.hpp"

namespace kxen::hv {

class Domain;

// Xen's packed segment attributes (type 3:0, s 4, dpl 6:5, p 7, avl 8, l 9, db 10, g 11), as
// vcpu_hvm_context_t and the HVM save records carry them, to and from KVM's segments.
kvm_segment segment_from_attr(std::uint32_t sel, std::uint64_t base, std::uint32_t limit, std::uint32_t attr);
std::uint32_t attr_of(kvm_segment const& s);

class Vcpu {
public:
    Vcpu(Domain& d, unsigned id, std::unique_ptr<accel::Vcpu> cpu) : dom_{&d}, id_{id}, cpu_{std::move(cpu)} {}

    [[nodiscard]] Domain& domain() const { return *dom_; }
    [[nodiscard]] unsigned id() const { return id_; }
    [[nodiscard]] accel::Vcpu& cpu() const { return *cpu_; }

    // The vcpu_info the guest sees (shared_info slot or the area it registered); null before
    // shared_info is mapped.
    [[nodiscard]] vcpu_info* info() const;
    void set_info_area(vcpu_info* p) { info_area_.store(p); }

    // Load a Xen HVM initial state (public/hvm/hvm_vcpu.h) into the KVM vCPU.
    XenResult<void> load_hvm_context(vcpu_hvm_context_t const& ctx);
    // The vCPU as Xen's save record (public/arch-x86/hvm/save.h, CPU), and back. The vCPU
    // must not be running.
    XenResult<void> save_hw_cpu(hvm_hw_cpu& out);
    XenResult<void> load_hw_cpu(hvm_hw_cpu const& in);

    // Scheduler state. `up` is VCPUOP_up/down; `blocked` is SCHEDOP_block/HLT/poll.
    std::atomic<bool> up{false};
    std::atomic<bool> blocked{false};
    std::atomic<bool> running{false};
    std::atomic<bool> queued{false};
    std::atomic<bool> yield{false};      // leave the pCPU at the next exit (SCHEDOP_yield, preemption)
    unsigned worker = 0;                 // pCPU this vCPU runs on (fixed: KVM_RUN from another
                                         // thread costs an RCU grace period)
    std::uint64_t run_start_ns = 0;      // when the current stint in KVM_RUN began

    // Timers (Xen system time ns; 0 = off). The generation cancels a fired-but-stale callback.
    std::mutex timer_mu;
    std::uint64_t singleshot_deadline = 0;
    std::uint64_t periodic_period = 0;
    std::uint64_t timer_gen = 0;
    std::uint64_t singleshot_timer = 0;   // TimerService ids of what is armed (0: none)
    std::uint64_t periodic_timer = 0;

    // SCHEDOP_poll: ports being polled (empty if not polling), guarded by timer_mu.
    std::vector<std::uint32_t> poll_ports;

    // Runstate accounting (public/vcpu.h).
    std::mutex runstate_mu;
    vcpu_runstate_info runstate{};
    std::uint64_t cpu_time_ns = 0;

    // Detecting a vCPU stuck on vmcall: the RIP seen at the previous kick.
    std::uint64_t last_kick_rip = ~0ull;
    unsigned same_rip_kicks = 0;

    std::uint32_t upcall_vector = 0;   // HVMOP_set_evtchn_upcall_vector (0: use the domain's)

private:
    Domain* dom_;
    unsigned id_;
    std::unique_ptr<accel::Vcpu> cpu_;
    std::atomic<vcpu_info*> info_area_{nullptr};
};

} // namespace kxen::hv
