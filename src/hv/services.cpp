#include "hv/services.hpp"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include "common/log.hpp"

namespace kxen::hv {
namespace {
constexpr std::uint64_t healthy_ms = 2000;

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now().time_since_epoch()).count());
}
} // namespace

Services::~Services() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    std::lock_guard g{mu_};
    for (auto& c : children_)
        if (c.pid > 0) ::kill(c.pid, SIGTERM);
    for (auto& c : children_)
        if (c.pid > 0) {
            int st;
            for (int i = 0; i < 100 && ::waitpid(c.pid, &st, WNOHANG) == 0; ++i) ::usleep(20'000);
            if (::waitpid(c.pid, &st, WNOHANG) == 0) {
                ::kill(c.pid, SIGKILL);
                ::waitpid(c.pid, &st, 0);
            }
        }
}

void Services::spawn(Child& c) {
    pid_t pid = ::fork();
    if (pid == 0) {
        // Die with kxend, and start with the signals kxend blocked unblocked.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        sigset_t none;
        sigemptyset(&none);
        ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
        std::vector<char*> argv{const_cast<char*>(c.path.c_str())};
        for (auto& a : c.args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execv(c.path.c_str(), argv.data());
        ::_exit(127);
    }
    c.pid = pid;
    c.started_ms = now_ms();
    log::info("service {} started (pid {})", c.path, pid);
}

void Services::start(std::string path, std::vector<std::string> args) {
    std::lock_guard g{mu_};
    children_.push_back(Child{std::move(path), std::move(args)});
    spawn(children_.back());
    if (!thread_.joinable()) thread_ = std::thread{[this] { loop(); }};
}

void Services::loop() {
    while (!stop_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::lock_guard g{mu_};
        for (auto& c : children_) {
            if (c.pid > 0) {
                int st;
                if (::waitpid(c.pid, &st, WNOHANG) != c.pid) continue;
                log::warn("service {} exited ({}); restarting", c.path,
                          WIFEXITED(st) ? "status " + std::to_string(WEXITSTATUS(st))
                                        : "signal " + std::to_string(WTERMSIG(st)));
                c.pid = -1;
                // A service that ran a while and died (killed, one crash) is back at once:
                // guests wait on it (a console ring fills, a store request is unanswered).
                if (now_ms() - c.started_ms >= healthy_ms) c.restarts = 0;
                c.next_start_ms = now_ms() + std::min(100u << std::min(c.restarts, 6u), 5000u);
                ++c.restarts;
            }
            if (c.pid < 0 && now_ms() >= c.next_start_ms) spawn(c);
        }
    }
}

} // namespace kxen::hv
