// kxl create: parse the config, build the domain, then (like xl) leave a small process behind
// that applies on_poweroff/on_reboot/on_crash when the domain shuts down.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <fmt/format.h>
#include <xen/sched.h>
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/kxl/kxl.hpp"

namespace kxen::kxl {
namespace ts = toolstack;

namespace {

ts::ShutdownAction action_for(ts::DomainConfig const& cfg, unsigned reason) {
    switch (reason) {
    case SHUTDOWN_poweroff: return cfg.on_poweroff;
    case SHUTDOWN_reboot: return cfg.on_reboot;
    case SHUTDOWN_watchdog: return cfg.on_watchdog;
    case SHUTDOWN_soft_reset: return cfg.on_soft_reset;
    default: return cfg.on_crash;
    }
}

// Detach from the terminal and from whoever reads our output, as xl's daemonized child does.
bool daemonize() {
    pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid > 0) {
        int st;
        ::waitpid(pid, &st, 0);   // the intermediate child exits at once
        return false;
    }
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    return true;
}

} // namespace

void monitor_domain(privcmd::Client& c, ts::DomainConfig const& cfg, std::uint16_t domid) {
    std::uint64_t seq = 0;
    while (true) {
        auto info = c.domain_info(domid);
        if (!info) return;   // destroyed by someone else: nothing to do
        if (info->flags & XEN_DOMINF_shutdown) {
            unsigned reason = (info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
            switch (action_for(cfg, reason)) {
            case ts::ShutdownAction::preserve: return;
            case ts::ShutdownAction::destroy:
            case ts::ShutdownAction::coredump_destroy:
            case ts::ShutdownAction::soft_reset:
                (void)c.destroy_domain(domid);
                return;
            case ts::ShutdownAction::restart:
            case ts::ShutdownAction::rename_restart:
            case ts::ShutdownAction::coredump_restart: {
                (void)c.destroy_domain(domid);
                auto again = create_domain(c, cfg, false);
                if (!again) return;
                domid = *again;
                seq = 0;
                continue;
            }
            }
        }
        auto s = c.domain_wait(domid, seq, 10000);
        if (!s) {
            if (s.error() == XenErr::srch) return;
            if (s.error() == XenErr::io) return;   // kxend went away
            continue;
        }
        seq = *s;
    }
}

int cmd_create(Globals const& g, CreateArgs const& a) {
    auto cfgfile = ts::load_xl_cfg(a.config);
    if (!cfgfile) {
        fmt::print(stderr, "kxl: {}\n", cfgfile.error().to_string());
        return 1;
    }
    if (auto r = cfgfile->apply_overrides(a.overrides); !r) {
        fmt::print(stderr, "kxl: {}\n", r.error().to_string());
        return 1;
    }
    auto cfg = ts::domain_config_from(*cfgfile);
    if (!cfg) {
        fmt::print(stderr, "kxl: {}\n", cfg.error().to_string());
        return 1;
    }
    if (!a.quiet)
        for (auto const& w : cfg->warnings) fmt::print(stderr, "kxl: warning: {}\n", w);
    auto c = connect(g);
    if (!c) return 1;
    if (!a.quiet) fmt::print("Parsing config from {}\n", a.config);
    auto domid = create_domain(*c, *cfg, a.paused);
    if (!domid) {
        fmt::print(stderr, "kxl: cannot create domain \"{}\": {}\n", cfg->name, domid.error());
        return 1;
    }
    std::fflush(stdout);
    if (!a.no_monitor && daemonize()) {
        if (auto mc = connect(g)) monitor_domain(*mc, *cfg, *domid);
        ::_exit(0);
    }
    if (a.console) return attach_console(*c, *domid);
    return 0;
}

} // namespace kxen::kxl
