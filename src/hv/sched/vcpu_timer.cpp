#include "hv/sched/vcpu_timer.hpp"
#include <xen/xen.h>
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"

namespace kxen::hv {

void vcpu_notify(Vcpu& v) {
    auto& s = v.domain().hv().sched();
    if (v.blocked.exchange(false)) s.wake(v);
    else s.kick(v);
}

namespace {

void fire(std::weak_ptr<Domain> wd, unsigned vcpu_id, std::uint64_t gen, bool periodic);

// Arm one of the vCPU's two timers, replacing whatever it had armed. Callers hold timer_mu.
void arm(Vcpu& v, std::uint64_t deadline_sys, bool periodic) {
    auto& hv = v.domain().hv();
    auto& slot = periodic ? v.periodic_timer : v.singleshot_timer;
    if (slot) hv.timers().cancel(slot);
    std::weak_ptr<Domain> wd = v.domain().shared_from_this();
    slot = hv.timers().at(hv.clock().to_monotonic(deadline_sys),
                          [wd, id = v.id(), gen = v.timer_gen, periodic] { fire(wd, id, gen, periodic); });
}

void disarm(Vcpu& v, bool periodic) {
    auto& slot = periodic ? v.periodic_timer : v.singleshot_timer;
    if (slot) v.domain().hv().timers().cancel(slot);
    slot = 0;
}

void fire(std::weak_ptr<Domain> wd, unsigned vcpu_id, std::uint64_t gen, bool periodic) {
    auto d = wd.lock();
    if (!d || d->dying()) return;
    Vcpu* v = d->vcpu(vcpu_id);
    {
        std::lock_guard g{v->timer_mu};
        if (v->timer_gen != gen) return;   // re-armed or stopped since
        if (d->is_shutdown()) {
            // A shut-down (suspended) domain's memory is being saved: the event waits until it
            // runs again, checked every few ms (a resume), or goes with the domain.
            arm(*v, d->hv().clock().system_time() + 5'000'000, periodic);
            return;
        }
        if (periodic) {
            if (!v->periodic_period) return;
            arm(*v, d->hv().clock().system_time() + v->periodic_period, true);
        } else {
            v->singleshot_deadline = 0;
            v->singleshot_timer = 0;
        }
    }
    evtchn::send_virq(*v, VIRQ_TIMER);
}

} // namespace

void set_singleshot_timer(Vcpu& v, std::uint64_t deadline) {
    std::lock_guard g{v.timer_mu};
    ++v.timer_gen;
    v.singleshot_deadline = deadline;
    arm(v, deadline, false);
    if (v.periodic_period) arm(v, v.domain().hv().clock().system_time() + v.periodic_period, true);
}

void stop_singleshot_timer(Vcpu& v) {
    std::lock_guard g{v.timer_mu};
    ++v.timer_gen;
    v.singleshot_deadline = 0;
    disarm(v, false);
    if (v.periodic_period) arm(v, v.domain().hv().clock().system_time() + v.periodic_period, true);
}

void set_periodic_timer(Vcpu& v, std::uint64_t period) {
    std::lock_guard g{v.timer_mu};
    ++v.timer_gen;
    v.periodic_period = period;
    arm(v, v.domain().hv().clock().system_time() + period, true);
    if (v.singleshot_deadline) arm(v, v.singleshot_deadline, false);
}

void stop_periodic_timer(Vcpu& v) {
    std::lock_guard g{v.timer_mu};
    ++v.timer_gen;
    v.periodic_period = 0;
    disarm(v, true);
    if (v.singleshot_deadline) arm(v, v.singleshot_deadline, false);
}

void cancel_timers(Vcpu& v) {
    std::lock_guard g{v.timer_mu};
    ++v.timer_gen;
    v.singleshot_deadline = 0;
    v.periodic_period = 0;
    disarm(v, false);
    disarm(v, true);
}

} // namespace kxen::hv
