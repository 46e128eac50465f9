// kxl list: the columns of `xl list`; -l gives JSON.
#include <unistd.h>
#include <cstdio>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <xen/sched.h>
#include "toolstack/kxl/domain_xenstore.hpp"
#include "toolstack/kxl/kxl.hpp"

namespace kxen::kxl {
namespace {

std::string uuid_text(xen_domain_handle_t const h) {
    return fmt::format("{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                       "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                       h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11],
                       h[12], h[13], h[14], h[15]);
}

// xl's state column: r running, b blocked, p paused, s shutdown, c crashed, d dying.
std::string state_text(xen_domctl_getdomaininfo_t const& i) {
    bool shut = i.flags & XEN_DOMINF_shutdown;
    unsigned reason = (i.flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
    std::string s = "------";
    if (i.flags & XEN_DOMINF_running) s[0] = 'r';
    if (i.flags & XEN_DOMINF_blocked) s[1] = 'b';
    if (i.flags & XEN_DOMINF_paused) s[2] = 'p';
    if (shut && reason != SHUTDOWN_crash) s[3] = 's';
    if (shut && reason == SHUTDOWN_crash) s[4] = 'c';
    if (i.flags & XEN_DOMINF_dying) s[5] = 'd';
    return s;
}

} // namespace

int cmd_list(Globals const& g, bool long_json, std::vector<std::string> const& doms) {
    auto c = connect(g);
    if (!c) return 1;
    auto list = c->domain_list();
    if (!list) {
        fmt::print(stderr, "kxl: list: {}\n", describe(list.error()));
        return 1;
    }
    DomainNames names{*c};
    std::vector<xen_domctl_getdomaininfo_t> shown;
    for (auto const& d : *list) {
        if (!doms.empty()) {
            bool want = false;
            auto name = names(d.domain);
            for (auto const& w : doms) want |= w == name || w == std::to_string(d.domain);
            if (!want) continue;
        }
        shown.push_back(d);
    }
    if (long_json) {
        auto out = nlohmann::json::array();
        for (auto const& d : shown) {
            auto name = names(d.domain);
            out.push_back({{"domid", d.domain},
                           {"config", {{"c_info", {{"type", "pvh"}, {"name", name}, {"uuid", uuid_text(d.handle)}}},
                                       {"b_info", {{"max_vcpus", d.max_vcpu_id + 1},
                                                   {"max_memkb", d.max_pages * 4},
                                                   {"target_memkb", d.tot_pages * 4}}}}},
                           {"state", state_text(d)},
                           {"cpu_time", static_cast<double>(d.cpu_time) / 1e9},
                           {"nr_online_vcpus", d.nr_online_vcpus},
                           {"shutdown_reason", (d.flags & XEN_DOMINF_shutdown)
                                                   ? static_cast<int>((d.flags >> XEN_DOMINF_shutdownshift) & 0xff)
                                                   : -1}});
        }
        fmt::print("{}\n", out.dump(4));
        return 0;
    }
    fmt::print("{:<40} {:>5} {:>5} {:>5}     {:<6} {:>9}\n", "Name", "ID", "Mem", "VCPUs", "State", "Time(s)");
    if (doms.empty()) {
        // Domain-0 is this host: kxen's dom0 is the Linux that runs kxend.
        auto mem = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * 4096 >> 20;
        auto cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
        fmt::print("{:<40} {:>5} {:>5} {:>5}     {:<6} {:>9.1f}\n", "Domain-0", 0, mem, cpus, "r-----", 0.0);
    }
    for (auto const& d : shown) {
        auto name = names(d.domain);
        if (name.empty()) name = fmt::format("(null)");
        fmt::print("{:<40} {:>5} {:>5} {:>5}     {:<6} {:>9.1f}\n", name, d.domain, d.tot_pages * 4096 >> 20,
                   d.nr_online_vcpus, state_text(d), static_cast<double>(d.cpu_time) / 1e9);
    }
    return 0;
}

} // namespace kxen::kxl
