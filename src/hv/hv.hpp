// kxen::hv::Hv: the hypervisor of one host: KVM, guest RAM, the domain table, scheduler, timers.
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include "common/xen_err.hpp"
#include "hv/domain/domain.hpp"
#include "hv/memory/ram_pool.hpp"
#include "hv/sched/scheduler.hpp"
#include "hv/sched/timer_service.hpp"
#include "hv/time/pvclock.hpp"
#include "accel/accel.hpp"

namespace kxen::hv {

struct HvOptions {
    std::string state_dir = "/var/lib/kxen";
    std::uint64_t pool_bytes = 1ull << 40;   // address space only; backed on touch
    unsigned nr_pcpus = 0;                   // 0: one per host CPU
    std::uint64_t slice_ns = 30'000'000;     // credit's default slice
    accel::Kind accel = accel::Kind::automatic;
};

class Hv {
public:
    static SysResult<std::unique_ptr<Hv>> create(HvOptions opt);
    ~Hv();

    [[nodiscard]] accel::Accel& accel() const { return *accel_; }
    [[nodiscard]] RamPool& pool() { return pool_; }
    [[nodiscard]] pvclock::Clock const& clock() const { return clock_; }
    [[nodiscard]] TimerService& timers() { return *timers_; }
    [[nodiscard]] Scheduler& sched() { return *sched_; }
    [[nodiscard]] HvOptions const& options() const { return opt_; }

    // XEN_DOMCTL_createdomain: id 0 means "pick one" (Xen's rover).
    XenResult<std::shared_ptr<Domain>> create_domain(DomId want, xen_domain_handle_t const handle,
                                                     std::uint32_t flags, std::uint32_t max_vcpus);
    [[nodiscard]] std::shared_ptr<Domain> lookup(DomId id) const;
    [[nodiscard]] std::vector<std::shared_ptr<Domain>> domains() const;
    XenResult<void> destroy_domain(DomId id);
    // Names are unique among live domains (as xl keeps them); an index, not a scan.
    XenResult<void> set_domain_name(Domain& d, std::string name);
    // dom0's event channels: ports bound by host processes over privcmd, each with an eventfd.
    [[nodiscard]] evtchn::Table& dom0_evtchns() { return dom0_evtchn_; }
    // A global VIRQ (VIRQ_DOM_EXC: a domain shut down or died) goes to dom0, if a host process
    // bound it (xenstored does).
    void send_global_virq(std::uint32_t virq);

    // The hypervisor console (XEN_SYSCTL_readconsole): kxend's own log lines.
    void console_append(std::string_view line);
    std::string console_read(bool clear);

private:
    Hv(HvOptions opt, std::unique_ptr<accel::Accel> accel, RamPool pool);
    HvOptions opt_;
    std::unique_ptr<accel::Accel> accel_;
    RamPool pool_;
    pvclock::Clock clock_;
    std::unique_ptr<TimerService> timers_;
    std::unique_ptr<Scheduler> sched_;
    mutable std::mutex mu_;
    std::map<DomId, std::shared_ptr<Domain>> domains_;
    DomId rover_ = 0;
    std::map<std::string, DomId, std::less<>> names_;
    evtchn::Table dom0_evtchn_{nullptr, 0};
    std::mutex con_mu_;
    std::deque<std::string> con_;
    std::size_t con_bytes_ = 0;
};

// The longest-lived domains would otherwise keep a dead host's RAM; Xen's limits apply here too.
inline constexpr DomId domid_first_reserved = DOMID_FIRST_RESERVED;

} // namespace kxen::hv
