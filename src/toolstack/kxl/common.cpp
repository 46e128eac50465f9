#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <fmt/format.h>
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/kxl/domain_xenstore.hpp"
#include "toolstack/kxl/kxl.hpp"

namespace kxen::kxl {

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

void start_monitor(Globals const& g, toolstack::DomainConfig const& cfg, std::uint16_t domid) {
    std::fflush(stdout);
    std::fflush(stderr);
    if (!daemonize()) return;
    if (auto mc = connect(g)) monitor_domain(*mc, cfg, domid);
    ::_exit(0);
}

namespace {
Cancel* signal_cancel = nullptr;
extern "C" void on_cancel_signal(int) {
    if (signal_cancel) signal_cancel->request();
}
} // namespace

void cancel_on_signals(Cancel& c) {
    signal_cancel = &c;
    struct sigaction sa {};
    sa.sa_handler = on_cancel_signal;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    // A peer that goes away shows as EPIPE on the next write, not as a signal that kills us.
    ::signal(SIGPIPE, SIG_IGN);
}

std::string describe(XenErr e) {
    return fmt::format("error {} ({})", -static_cast<int>(e), privcmd::xen_strerror(e));
}

std::optional<privcmd::Client> connect(Globals const& g) {
    auto path = privcmd::socket_path(g.socket);
    auto c = privcmd::Client::connect(path);
    if (!c) {
        fmt::print(stderr, "kxl: cannot reach kxend: {} (is kxend running? --socket or KXEN_SOCKET "
                           "names its socket)\n", c.error().message());
        return std::nullopt;
    }
    return std::move(*c);
}

std::optional<std::uint16_t> resolve_domain(privcmd::Client& c, std::string const& what) {
    if (!what.empty() && what.find_first_not_of("0123456789") == std::string::npos && what.size() < 6) {
        auto id = static_cast<std::uint16_t>(std::stoul(what));
        if (c.domain_info(id)) return id;
        fmt::print(stderr, "kxl: domain {} does not exist\n", what);
        return std::nullopt;
    }
    if (auto list = c.domain_list()) {
        DomainNames names{c};
        for (auto const& d : *list)
            if (names(d.domain) == what) return d.domain;
    }
    fmt::print(stderr, "kxl: '{}' is an invalid domain identifier\n", what);
    return std::nullopt;
}

} // namespace kxen::kxl
