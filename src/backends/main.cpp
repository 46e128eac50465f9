// kxen-backend: dom0's device backends: the PV console and block devices (network and the rest later).
#include <signal.h>
#include <CLI/CLI.hpp>
#include <thread>
#include "backends/blk/vbd_backend.hpp"
#include "backends/console/console_backend.hpp"
#include "common/log.hpp"

using namespace kxen;

int main(int argc, char** argv) {
    CLI::App app{"kxen-backend: PV device backends for kxen guests"};
    std::string socket, state_dir = "/var/lib/kxen";
    app.add_option("--socket", socket, "kxend privcmd socket (default $KXEN_SOCKET or /run/kxen/privcmd)");
    app.add_option("--state-dir", state_dir, "the host's state directory")->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    log::set_tag("kxen-backend");
    ::signal(SIGPIPE, SIG_IGN);
    // One connection per backend: each runs its own loop on its own thread.
    auto c = privcmd::Client::connect(privcmd::socket_path(socket));
    auto cb = privcmd::Client::connect(privcmd::socket_path(socket));
    if (!c || !cb) {
        log::error("cannot reach kxend: {}", (c ? cb : c).error().message());
        return 1;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    backends::ConsoleBackend console{std::move(*c), state_dir};
    backends::blk::VbdBackend vbd{std::move(*cb), state_dir};
    std::thread waiter{[&] {
        int sig;
        ::sigwait(&stop, &sig);
        console.stop();
    }};
    int vbd_rc = 0;
    std::thread block{[&] { vbd_rc = vbd.run(); }};
    int rc = console.run();
    vbd.stop();
    block.join();
    if (rc == 0) rc = vbd_rc;
    ::pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return rc;
}
