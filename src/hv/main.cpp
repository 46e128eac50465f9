// kxend: the hypervisor daemon. Owns /dev/kvm and every domain; dom0 tools reach it through
// the privcmd socket.
#include <signal.h>
#include <malloc.h>
#include <sys/resource.h>
#include <CLI/CLI.hpp>
#include <filesystem>
#include "common/log.hpp"
#include "hv/hv.hpp"
#include "hv/services.hpp"
#include "privcmd/protocol.hpp"
#include "privcmd/server.hpp"

using namespace kxen;

int main(int argc, char** argv) {
    CLI::App app{"kxend: the kxen hypervisor (Xen on KVM)"};
    std::string socket = privcmd::default_socket;
    hv::HvOptions opt;
    std::string level = "info";
    bool no_services = false;
    app.add_option("--socket", socket, "privcmd socket to listen on")->capture_default_str();
    app.add_option("--state-dir", opt.state_dir, "state directory (console logs, ...)")->capture_default_str();
    app.add_option("--pcpus", opt.nr_pcpus, "pCPU worker threads (0: one per host CPU)");
    app.add_option("--log-level", level, "debug, info, warn, error")->capture_default_str();
    std::string accel = "auto";
    app.add_option("--accel", accel, "kvm, soft (the software vCPU) or auto (KVM when it works, else soft)")
        ->check(CLI::IsMember({"auto", "kvm", "soft"}))
        ->capture_default_str();
    app.add_flag("--no-services", no_services, "do not start kxenstored and kxen-backend (run them yourself)");
    bool no_xenstored = false;
    app.add_flag("--no-xenstored", no_xenstored,
                 "do not start kxenstored: another xenstored (Xen's) serves <state-dir>/xenstored/socket");
    CLI11_PARSE(app, argc, argv);
    opt.accel = accel == "kvm" ? accel::Kind::kvm : accel == "soft" ? accel::Kind::soft : accel::Kind::automatic;

    log::set_tag("kxend");
    log::set_min_level(level == "debug" ? log::Level::debug : level == "warn" ? log::Level::warn
                       : level == "error" ? log::Level::error : log::Level::info);
    // Every domain costs descriptors (VM, vCPUs); take all the process may have.
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    // Every KVM VM hooks kxend's address space (an MMU notifier per VM), so each munmap costs
    // a call per domain. Keep malloc from returning memory to the kernel in small pieces.
    ::mallopt(M_MMAP_THRESHOLD, 256 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 512 << 20);
    // One arena grown in large steps: per-thread arenas grow a page at a time with mprotect,
    // which costs the same walk over every VM (measured: 6,000 creates 29.6 s -> 17.5 s).
    ::mallopt(M_ARENA_MAX, 1);
    ::mallopt(M_TOP_PAD, 256 << 20);
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
    log::info("kxen {} ready: socket {}, state {}, {} pCPUs, scheduler {}, accelerator {}", "4.17", socket,
              opt.state_dir, (*hv)->sched().nr_pcpus(), (*hv)->sched().name(), (*hv)->accel().name());

    // The host's dom0 services, as xencommons starts them, found beside kxend.
    hv::Services services;
    if (!no_services) {
        auto bindir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
        auto dir = std::filesystem::absolute(opt.state_dir).string();
        auto xs = bindir / "kxenstored";
        if (!no_xenstored && std::filesystem::exists(xs))
            services.start(xs, {"--socket", dir + "/xenstored/socket", "--state-dir", dir + "/xenstored",
                                "--privcmd", socket});
        auto be = bindir / "kxen-backend";
        if (std::filesystem::exists(be)) services.start(be, {"--socket", socket, "--state-dir", dir});
    }

    int sig = 0;
    ::sigwait(&stop, &sig);
    log::info("signal {}: shutting down", sig);
    bool drained = (*server)->stop();
    log::set_sink({});
    // A session still inside a call would use the Hv as it goes: leave it to the exit.
    if (!drained) ::_exit(0);
    hv->reset();
    return 0;
}
