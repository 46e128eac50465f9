// kxen::hv::Scheduler: which vCPU each pCPU worker runs next. Policies (round-robin now,
// Xen's credit later) implement it; the vCPU run loop and the hypercalls only see this.
#pragma once
#include <cstdint>
#include <memory>

namespace kxen::hv {

class Vcpu;

class Scheduler {
public:
    virtual ~Scheduler() = default;
    virtual void add(Vcpu& v) = 0;        // place it on a pCPU; it runs once runnable
    virtual void remove(Vcpu& v) = 0;     // returns when v is off every pCPU and queue
    virtual void wake(Vcpu& v) = 0;       // v may have become runnable
    virtual void kick(Vcpu& v) = 0;       // v must leave guest mode soon (an upcall to inject)
    [[nodiscard]] virtual unsigned nr_pcpus() const = 0;
    [[nodiscard]] virtual char const* name() const = 0;
    // How long a vCPU runs while others wait for its pCPU (credit's tslice_ms).
    [[nodiscard]] virtual std::uint64_t slice_ns() const = 0;
    virtual void set_slice_ns(std::uint64_t ns) = 0;
};

// Run v until it blocks, yields, is preempted or can no longer run. Defined by the vCPU code.
void run_vcpu(Vcpu& v);
[[nodiscard]] bool vcpu_runnable(Vcpu const& v);

std::unique_ptr<Scheduler> make_rr_scheduler(unsigned nr_pcpus, std::uint64_t slice_ns);

} // namespace kxen::hv
