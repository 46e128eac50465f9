// kxen-backend: dom0's device backends (the PV console now; block, network and the rest later).
#include <signal.h>
#include <CLI/CLI.hpp>
#include <thread>
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
    auto c = privcmd::Client::connect(privcmd::socket_path(socket));
    if (!c) {
        log::error("cannot reach kxend: {}", c.error().message());
        return 1;
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    ::pthread_sigmask(SIG_BLOCK, &stop, nullptr);
    backends::ConsoleBackend console{std::move(*c), state_dir};
    std::thread waiter{[&] {
        int sig;
        ::sigwait(&stop, &sig);
        console.stop();
    }};
    int rc = console.run();
    ::pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return rc;
}
