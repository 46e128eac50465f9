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
    auto store = open_store(*c);
    if (!store && !a.quiet)
        fmt::print(stderr, "kxl: warning: {}; the domain gets no xenstore tree (no PV control, no xenbus)\n",
                   store.error().message);
    auto domid = create_domain(*c, *cfg, a.paused, store ? &*store : nullptr);
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
