#include "hv/domctl/domain_info.hpp"
#include <unistd.h>
#include <cstring>
#include <fstream>
#include <string>
#include "hv/domain/domain.hpp"
#include "hv/hv.hpp"

namespace kxen::hv {

xen_domctl_getdomaininfo_t domain_info(Domain& d) {
    xen_domctl_getdomaininfo_t i{};
    i.domain = d.id();
    i.flags = XEN_DOMINF_hvm_guest | XEN_DOMINF_hap;
    if (d.dying()) i.flags |= XEN_DOMINF_dying;
    if (d.is_shutdown()) i.flags |= XEN_DOMINF_shutdown | (d.shutdown_code() << XEN_DOMINF_shutdownshift);
    if (d.paused()) i.flags |= XEN_DOMINF_paused;
    // Xen: "running" if any vCPU is on a pCPU, "blocked" if all online vCPUs are blocked.
    bool any_running = false, all_blocked = true;
    std::uint32_t online = 0, max_id = 0;
    std::uint64_t cpu = 0;
    for (std::uint32_t n = 0; n < d.max_vcpus(); ++n) {
        Vcpu* v = d.vcpu(n);
        std::lock_guard g{v->runstate_mu};
        cpu += v->cpu_time_ns;
        // The stint in progress counts too, or a vCPU that never yields shows no time.
        if (v->runstate.state == RUNSTATE_running && v->runstate.state_entry_time)
            cpu += d.hv().clock().system_time() - v->runstate.state_entry_time;
        if (!v->up) continue;
        ++online;
        max_id = n;
        any_running |= v->running.load();
        all_blocked &= v->blocked.load();
    }
    if (any_running) i.flags |= XEN_DOMINF_running;
    if (online && all_blocked) i.flags |= XEN_DOMINF_blocked;
    i.tot_pages = d.p2m().pages();
    i.max_pages = d.max_pages.load();
    i.shared_info_frame = d.shared_info_gfn();
    i.cpu_time = cpu;
    i.nr_online_vcpus = online;
    i.max_vcpu_id = d.max_vcpus() ? d.max_vcpus() - 1 : XEN_INVALID_MAX_VCPU_ID;
    (void)max_id;
    std::memcpy(i.handle, d.handle, sizeof i.handle);
    i.gpaddr_bits = 40;
    return i;
}

xen_domctl_getdomaininfo_t dom0_info(Hv& hv) {
    xen_domctl_getdomaininfo_t i{};
    i.domain = 0;
    i.flags = XEN_DOMINF_running;
    auto total = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES));
    auto avail = static_cast<std::uint64_t>(::sysconf(_SC_AVPHYS_PAGES));
    i.tot_pages = total > avail ? total - avail : 0;
    i.max_pages = total;
    unsigned n = hv.sched().nr_pcpus();
    i.nr_online_vcpus = n;
    i.max_vcpu_id = n - 1;
    // The host's busy CPU time (/proc/stat: all but idle and iowait), as dom0's vCPU time.
    std::ifstream stat{"/proc/stat"};
    std::string cpu;
    std::uint64_t v[8]{};
    if (stat >> cpu && cpu == "cpu" && stat >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6] >> v[7]) {
        auto busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        i.cpu_time = busy * (1'000'000'000ull / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK)));
    }
    i.gpaddr_bits = 40;
    return i;
}

} // namespace kxen::hv
