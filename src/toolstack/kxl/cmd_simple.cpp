// kxl destroy, pause, unpause, shutdown, reboot, info, dmesg.
#include <sys/utsname.h>
#include <chrono>
#include <cstdio>
#include <thread>
#include <fmt/format.h>
#include <xen/sched.h>
#include <xen/version.h>
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/kxl/kxl.hpp"

namespace kxen::kxl {

int cmd_destroy(Globals const& g, std::string const& dom) {
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, dom);
    if (!id) return 1;
    auto store = open_store(*c);
    if (auto r = destroy_domain(*c, store ? &*store : nullptr, *id); !r) {
        fmt::print(stderr, "kxl: destroy {}: {}\n", dom, describe(r.error()));
        return 1;
    }
    return 0;
}

int cmd_pause(Globals const& g, std::string const& dom, bool pause) {
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, dom);
    if (!id) return 1;
    auto r = pause ? c->pause(*id) : c->unpause(*id);
    if (!r) {
        fmt::print(stderr, "kxl: {} {}: {}\n", pause ? "pause" : "unpause", dom, describe(r.error()));
        return 1;
    }
    return 0;
}

namespace {

// What a guest's control/shutdown holds while it has not taken the request.
bool request_pending(xs::Handle& xs, std::string const& node, std::string const& request) {
    auto v = xs.try_read(node);
    return v && *v == request;
}

} // namespace

// As libxl_domain_shutdown/reboot: the request goes to the guest through control/shutdown,
// where a guest with PV control (it says so in control/feature-poweroff / feature-reboot)
// takes it by clearing the node and shuts itself down. -F falls back to shutting the domain
// down from the hypervisor (xl's ACPI power button) when the guest cannot take the request
// or has not taken it within the timeout.
int cmd_shutdown(Globals const& g, ShutdownArgs const& a) {
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, a.dom);
    if (!id) return 1;
    char const* verb = a.reboot ? "reboot" : "shutdown";
    std::string const request = a.reboot ? "reboot" : "poweroff";
    auto store = open_store(*c);
    auto const control = domain_path(*id) + "/control/";
    bool const pv = store && store->try_read(control + "feature-" + request).value_or("") == "1";
    auto from_outside = [&] {
        if (auto r = c->remote_shutdown(*id, a.reboot ? SHUTDOWN_reboot : SHUTDOWN_poweroff); !r) {
            fmt::print(stderr, "kxl: {} {}: {}\n", verb, a.dom, describe(r.error()));
            return false;
        }
        return true;
    };

    if (!pv) {
        if (!a.fallback) {
            fmt::print(stderr, "kxl: {} {}: PV control interface not available ({}); use -F to shut the domain down "
                               "from the hypervisor\n",
                       verb, a.dom, store ? "the guest has not set control/feature-" + request : store.error().message);
            return 1;
        }
        if (!from_outside()) return 1;
    } else {
        if (auto r = store->write(control + "shutdown", request); !r) {
            fmt::print(stderr, "kxl: {} {}: {}\n", verb, a.dom, r.error().message);
            return 1;
        }
        if (a.fallback) {
            using clock = std::chrono::steady_clock;
            auto const deadline = clock::now() + std::chrono::seconds(a.timeout_s);
            bool taken = false;
            while (clock::now() < deadline) {
                auto info = c->domain_info(*id);
                if (!info || (info->flags & XEN_DOMINF_shutdown) || !request_pending(*store, control + "shutdown", request)) {
                    taken = true;
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            if (!taken) {
                fmt::print(stderr, "kxl: {}: the guest did not take the {} request in {} s; shutting it down from the "
                                   "hypervisor\n",
                           a.dom, request, a.timeout_s);
                if (!from_outside()) return 1;
            }
        }
    }
    if (!a.wait) return 0;
    fmt::print("Waiting for 1 domains\n");
    std::uint64_t seq = 0;
    for (int i = 0; i < 600; ++i) {
        auto info = c->domain_info(*id);
        if (!info) break;   // gone: destroyed by its monitor
        if (!a.reboot && (info->flags & XEN_DOMINF_shutdown)) {
            unsigned reason = (info->flags >> XEN_DOMINF_shutdownshift) & 0xff;
            if (reason != SHUTDOWN_reboot) break;
        }
        auto s = c->domain_wait(*id, seq, 1000);
        if (!s) break;
        seq = *s;
    }
    fmt::print("Domain {} has been shut down, reason code {}\n", *id, a.reboot ? SHUTDOWN_reboot : SHUTDOWN_poweroff);
    return 0;
}

int cmd_info(Globals const& g) {
    auto c = connect(g);
    if (!c) return 1;
    auto p = c->physinfo();
    if (!p) {
        fmt::print(stderr, "kxl: info: {}\n", describe(p.error()));
        return 1;
    }
    utsname u{};
    ::uname(&u);
    auto ver = c->xen_version(XENVER_version).value_or(0);
    xen_extraversion_t extra{};
    (void)c->xen_version(XENVER_extraversion, extra, sizeof extra);
    xen_capabilities_info_t caps{};
    (void)c->xen_version(XENVER_capabilities, caps, sizeof caps);
    xen_commandline_t cmdline{};
    (void)c->xen_version(XENVER_commandline, cmdline, sizeof cmdline);
    std::string_view accel = cmdline;
    accel = accel.starts_with("accel=") ? accel.substr(6, accel.find(' ') == accel.npos ? accel.npos : accel.find(' ') - 6) : "";
    auto line = [](char const* k, auto const& v) { fmt::print("{:<23}: {}\n", k, v); };
    line("host", u.nodename);
    line("release", u.release);
    line("version", u.version);
    line("machine", u.machine);
    line("nr_cpus", p->nr_cpus);
    line("max_cpu_id", p->max_cpu_id);
    line("nr_nodes", p->nr_nodes);
    line("cores_per_socket", p->cores_per_socket);
    line("threads_per_core", p->threads_per_core);
    line("cpu_mhz", fmt::format("{:.3f}", p->cpu_khz / 1000.0));
    line("virt_caps", "hvm hap");
    line("total_memory", p->total_pages * 4096 >> 20);
    line("free_memory", p->free_pages * 4096 >> 20);
    line("xen_major", ver >> 16);
    line("xen_minor", ver & 0xffff);
    line("xen_extra", extra);
    line("xen_version", fmt::format("{}.{}{}", ver >> 16, ver & 0xffff, extra));
    line("xen_caps", caps);
    line("xen_scheduler", "credit");
    line("xen_pagesize", 4096);
    line("platform_params", "virt_start=0xffff800000000000");
    line("xen_commandline", cmdline);
    line("xen_hypervisor", fmt::format("kxen ({})", accel == "soft" ? "software vCPU" : accel == "kvm" ? "KVM" : accel));
    line("xend_config_format", 4);
    return 0;
}

int cmd_dmesg(Globals const& g, bool clear) {
    auto c = connect(g);
    if (!c) return 1;
    auto s = c->read_console(clear);
    if (!s) {
        fmt::print(stderr, "kxl: dmesg: {}\n", describe(s.error()));
        return 1;
    }
    std::fwrite(s->data(), 1, s->size(), stdout);
    return 0;
}

} // namespace kxen::kxl
