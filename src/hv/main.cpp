// kxend: the hypervisor daemon. Owns /dev/kvm and every domain; dom0 tools reach it through
// the privcmd socket.
#include <signal.h>
#include <sys/resource.h>
#include <CLI/CLI.hpp>
#include <filesystem>
#include "common/log.hpp"
#include "hv/hv.hpp"
#include "privcmd/protocol.hpp"
#include "privcmd/server.hpp"

using namespace kxen;

int main(int argc, char** argv) {
    CLI::App app{"kxend: the kxen hypervisor (Xen on KVM)"};
    std::string socket = privcmd::default_socket;
    hv::HvOptions opt;
    std::string level = "info";
    app.add_option("--socket", socket, "privcmd socket to listen on")->capture_default_str();
    app.add_option("--state-dir", opt.state_dir, "state directory (console logs, ...)")->capture_default_str();
    app.add_option("--pcpus", opt.nr_pcpus, "pCPU worker threads (0: one per host CPU)");
    app.add_option("--log-level", level, "debug, info, warn, error")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    log::set_tag("kxend");
    log::set_min_level(level == "debug" ? log::Level::debug : level == "warn" ? log::Level::warn
                       : level == "error" ? log::Level::error : log::Level::info);
    // Every domain costs descriptors (VM, vCPUs); take all the process may have.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    std::error_code ec;
    std::filesystem::create_directories(opt.state_dir, ec);
    if (ec) {
        log::error("state directory {}: {}", opt.state_dir, ec.message());
        return 1;
    }

    // Signals go to this thread only (sigwait below); vCPU workers get SIGUSR1 kicks alone.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    auto hv = hv::Hv::create(opt);
    if (!hv) {
        log::error("cannot start: {}", hv.error().message());
        return 1;
    }
    log::set_sink([h = hv->get()](std::string_view line) { h->console_append(line); });
    auto server = privcmd::Server::listen(**hv, socket);
    if (!server) {
        log::error("cannot listen: {}", server.error().message());
        return 1;
    }
    log::info("kxen {} ready: socket {}, state {}, {} pCPUs, scheduler {}", "4.17", socket,
              opt.state_dir, (*hv)->sched().nr_pcpus(), (*hv)->sched().name());

    int sig = 0;
    ::sigwait(&stop, &sig);
    log::info("signal {}: shutting down", sig);
    (*server)->stop();
    log::set_sink({});
    hv->reset();
    return 0;
}
