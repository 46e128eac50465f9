#include "hv/hv.hpp"
#include <sys/ioctl.h>
#include <thread>
#include <xen/domctl.h>
#include "common/log.hpp"
#include "hv/sched/vcpu_timer.hpp"

namespace kxen::hv {

Hv::Hv(HvOptions opt, std::unique_ptr<accel::Accel> accel, RamPool pool)
    : opt_{std::move(opt)}, accel_{std::move(accel)}, pool_{std::move(pool)}, clock_{accel_->tsc_khz()},
      timers_{std::make_unique<TimerService>()},
      sched_{make_rr_scheduler(opt_.nr_pcpus ? opt_.nr_pcpus : std::max(1u, std::thread::hardware_concurrency()),
                               opt_.slice_ns)} {}

Hv::~Hv() {
    std::vector<DomId> ids;
    for (auto& d : domains()) ids.push_back(d->id());
    for (auto id : ids) (void)destroy_domain(id);
    sched_.reset();
    timers_.reset();
}

SysResult<std::unique_ptr<Hv>> Hv::create(HvOptions opt) {
    std::string why;
    auto accel = accel::open(opt.accel, why);
    if (!accel) return std::unexpected(accel.error());
    log::info("accelerator: {} ({})", (*accel)->name(), why);
    auto pool = RamPool::create(opt.pool_bytes);
    if (!pool) return std::unexpected(pool.error());
    return std::unique_ptr<Hv>(new Hv(std::move(opt), std::move(*accel), std::move(*pool)));
}

XenResult<std::shared_ptr<Domain>> Hv::create_domain(DomId want, xen_domain_handle_t const handle,
                                                     std::uint32_t flags, std::uint32_t max_vcpus) {
    if (max_vcpus == 0 || max_vcpus > 128) return xen_fail(XenErr::inval);
    if (!(flags & XEN_DOMCTL_CDF_hvm)) return xen_fail(XenErr::opnotsupp);   // PVH/HVM only
    std::unique_lock g{mu_};
    DomId id = want;
    if (id == 0) {
        for (unsigned tries = 0; tries < domid_first_reserved; ++tries) {
            rover_ = static_cast<DomId>(rover_ + 1 >= domid_first_reserved ? 1 : rover_ + 1);
            if (!domains_.contains(rover_)) break;
        }
        id = rover_;
        if (domains_.contains(id)) return xen_fail(XenErr::nospc);
    } else if (id >= domid_first_reserved) {
        return xen_fail(XenErr::inval);
    } else if (domains_.contains(id)) {
        return xen_fail(XenErr::exist);
    }
    auto vm = accel_->create_vm();
    if (!vm) {
        log::warn("createdomain: {}", vm.error().message());
        return xen_fail(vm.error().err == EMFILE ? XenErr::mfile : vm.error().err == ENFILE ? XenErr::nfile : XenErr::nomem);
    }
    auto d = std::make_shared<Domain>(*this, id, std::move(*vm), handle, max_vcpus);
    d->create_flags = flags;
    // The hypercall page MSR must reach kxend (Xen's leaf 0x40000002 names it).
    accel::MsrRange hcall{0x40000000, 1, false, true};
    if (auto r = d->vm().set_msr_filter({&hcall, 1}); !r) {
        log::warn("createdomain: {}", r.error().message());
        return xen_fail(XenErr::nodev);
    }
    for (std::uint32_t i = 0; i < max_vcpus; ++i) {
        if (auto v = d->create_vcpu(i); !v) {
            log::warn("createdomain: {}", v.error().message());
            return xen_fail(v.error().err == EMFILE ? XenErr::mfile : XenErr::nomem);
        }
    }
    domains_.emplace(id, d);
    g.unlock();
    for (std::uint32_t i = 0; i < max_vcpus; ++i) sched_->add(*d->vcpu(i));
    log::info("d{}: created ({} vCPUs)", id, max_vcpus);
    return d;
}

std::shared_ptr<Domain> Hv::lookup(DomId id) const {
    std::lock_guard g{mu_};
    auto it = domains_.find(id);
    return it == domains_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Domain>> Hv::domains() const {
    std::lock_guard g{mu_};
    std::vector<std::shared_ptr<Domain>> v;
    v.reserve(domains_.size());
    for (auto& [id, d] : domains_) v.push_back(d);
    return v;
}

XenResult<void> Hv::destroy_domain(DomId id) {
    std::shared_ptr<Domain> d;
    {
        std::lock_guard g{mu_};
        auto it = domains_.find(id);
        if (it == domains_.end()) return xen_fail(XenErr::srch);
        d = it->second;
        if (d->dying()) return xen_fail(XenErr::again);
        d->set_dying();
    }
    for (std::uint32_t i = 0; i < d->max_vcpus(); ++i) {
        sched_->remove(*d->vcpu(i));
        cancel_timers(*d->vcpu(i));
    }
    evtchn::close_all(*this, d->evtchns());   // peers see their ports go back to unbound
    {
        std::lock_guard g{mu_};
        domains_.erase(id);
        if (auto it = names_.find(d->name()); it != names_.end() && it->second == id) names_.erase(it);
    }
    d->notify_state_change();
    send_global_virq(VIRQ_DOM_EXC);
    log::info("d{}: destroyed", id);
    return {};
}

void Hv::send_global_virq(std::uint32_t virq) {
    auto port = dom0_evtchn_.virq_port(0, virq);
    if (port > 0) evtchn::set_pending(dom0_evtchn_, static_cast<evtchn_port_t>(port));
}

XenResult<void> Hv::set_domain_name(Domain& d, std::string name) {
    {
        std::lock_guard g{mu_};
        auto it = names_.find(name);
        if (it != names_.end() && it->second != d.id()) return xen_fail(XenErr::exist);
        if (auto old = names_.find(d.name()); old != names_.end() && old->second == d.id()) names_.erase(old);
        names_.emplace(name, d.id());
    }
    d.set_name(std::move(name));
    return {};
}

void Hv::console_append(std::string_view line) {
    std::lock_guard g{con_mu_};
    con_.emplace_back(line);
    con_bytes_ += line.size();
    while (con_bytes_ > (256u << 10) && !con_.empty()) {
        con_bytes_ -= con_.front().size();
        con_.pop_front();
    }
}

std::string Hv::console_read(bool clear) {
    std::lock_guard g{con_mu_};
    std::string out;
    for (auto& l : con_) out += l;
    if (clear) {
        con_.clear();
        con_bytes_ = 0;
    }
    return out;
}

} // namespace kxen::hv
