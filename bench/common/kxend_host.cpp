#include "common/kxend_host.hpp"
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdlib>
#include <cstring>
#include <thread>
#include "common/proc.hpp"

namespace kxen::bench {

bool socket_answers(std::string const& path) {
    int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

auto KxendHost::start(std::string const& kxend_bin, bool services, std::vector<std::string> const& args)
    -> std::expected<std::unique_ptr<KxendHost>, std::string> {
    std::unique_ptr<KxendHost> h{new KxendHost};
    char tmpl[] = "/tmp/kxen-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) return std::unexpected(std::string("mkdtemp: ") + std::strerror(errno));
    h->dir_ = tmpl;
    std::vector<std::string> argv{kxend_bin, "--socket", h->socket(), "--state-dir", h->state_dir().string(),
                                  "--log-level", "warn"};
    if (!services) argv.push_back("--no-services");
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    auto log = h->log_path().string();
    h->pid_ = ::fork();
    if (h->pid_ < 0) return std::unexpected(std::string("fork: ") + std::strerror(errno));
    if (h->pid_ == 0) {
        // If the benchmark dies (Ctrl-C, SIGPIPE from `| head`), its kxend goes with it.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::execv(cargv[0], cargv.data());
        ::_exit(127);
    }
    for (int i = 0; i < 400; ++i) {
        if (socket_answers(h->socket())) return h;
        if (!h->alive()) return std::unexpected("kxend exited at start; see " + log);
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return std::unexpected("kxend did not answer on " + h->socket() + " within 10 s");
}

bool KxendHost::alive() const {
    int st;
    return pid_ > 0 && ::waitpid(pid_, &st, WNOHANG) == 0;
}

double KxendHost::stop() {
    if (pid_ <= 0) return 0;
    auto t0 = Clock::now();
    ::kill(pid_, SIGTERM);
    int st;
    for (int i = 0; i < 1000; ++i) {
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return ms_since(t0) / 1000;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return ms_since(t0) / 1000;
}

KxendHost::~KxendHost() {
    stop();
    if (!std::getenv("KXEN_BENCH_KEEP")) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

} // namespace kxen::bench
