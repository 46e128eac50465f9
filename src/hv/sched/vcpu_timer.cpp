#include <cstdint>
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

void arm(Vcpu& v, std::uint64_t deadline_sys, bool periodic) {
    auto& hv = v.domain().hv();
    std::weak_ptr<Domain> wd = v.domain().shared_from_this();
    hv.timers().at(hv.clock().to_monotonic(deadline_sys),
                   [wd, id = v.id(), gen = v.timer_gen, periodic] { fire(wd, id, gen, periodic); });
}

void fire(std::weak_ptr<Domain> wd, unsigned vcpu_id, std::uint64_t gen, bool periodic) {
    auto d = wd.lock();
    if (!d || d->dying()) return;
    Vcpu* v = d->vcpu(vcpu_id);
    {
        std::lock_guard g{v->timer_mu};
        if (v->timer_gen != gen) return;   // re-armed or stopped since
        if (periodic) {
            if (!v->periodic_period) return;
            arm(*v, d->hv().clock().system_time() + v->periodic_period, true);
        } else {
            v->singleshot_deadline = 0;
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
    if (v.singleshot_deadline) arm(v, v.singleshot_deadline, false);
}

} // namespace kxen::hv
