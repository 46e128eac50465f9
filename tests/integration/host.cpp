#include "host.hpp"
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace kxen::test {

namespace fs = std::filesystem;

std::string accel() {
    char const* a = std::getenv("KXEN_TEST_ACCEL");
    return a && *a ? a : "soft";
}

std::string accel_unavailable_reason() {
    if (accel() != "kvm") return {};
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) return std::string("SKIPPED: /dev/kvm is not usable here (") + std::strerror(errno) + ")";
    ::close(fd);
    return {};
}

Run run(std::vector<std::string> const& argv, std::vector<std::pair<std::string, std::string>> const& env) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) < 0) return {};
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(pipefd[1], 1);
        ::dup2(pipefd[1], 2);
        int devnull = ::open("/dev/null", O_RDONLY);
        ::dup2(devnull, 0);
        for (auto const& [k, v] : env) {
            if (v.empty()) ::unsetenv(k.c_str());
            else ::setenv(k.c_str(), v.c_str(), 1);
        }
        std::vector<char*> args;
        for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    ::close(pipefd[1]);
    Run r;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<std::size_t>(n));
    ::close(pipefd[0]);
    int st = 0;
    ::waitpid(pid, &st, 0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

namespace {

// xs::Handle::open sets XENSTORED_PATH in this process (libxenstore reads it from there); a
// kxl inheriting it would talk to the store of whichever Host opened one last.
Run run_capture(std::vector<std::string> const& argv, std::string const& socket) {
    return run(argv, {{"KXEN_SOCKET", socket}, {"XENSTORED_PATH", ""}});
}

bool socket_answers(std::string const& path, int type = SOCK_SEQPACKET) {
    int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
}

} // namespace

Host::Host(Options opt) {
    char tmpl[] = "/tmp/kxen-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    pid_ = ::fork();
    if (pid_ == 0) {
        // A test process that dies without its destructors (a sanitizer abort, a ctest
        // timeout) must not leave its kxend running.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int log = ::open((dir_ / "kxend.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ::dup2(log, 1);
        ::dup2(log, 2);
        ::unsetenv("XENSTORED_PATH");  // see run_capture: kxenstored would take it as its socket
        std::string bin = std::string(KXEN_BIN_DIR) + "/kxend";
        std::string sock = socket(), st = state().string();
        std::string const a = accel();
        ::execl(bin.c_str(), bin.c_str(), "--socket", sock.c_str(), "--state-dir", st.c_str(), "--accel",
                a.c_str(), opt.kxenstored ? nullptr : "--no-xenstored", nullptr);
        ::_exit(127);
    }
    for (int i = 0; i < 200 && !socket_answers(socket()); ++i) {
        if (!kxend_alive()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    // The host is ready once the store it starts serves too (kxl writes each domain's tree).
    auto const store = (state() / "xenstored" / "socket").string();
    for (int i = 0; opt.kxenstored && i < 400 && !socket_answers(store, SOCK_STREAM); ++i) {
        if (!kxend_alive()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
}

int Host::stop_kxend() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int st = -1;
    for (int i = 0; i < 200; ++i) {
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return st;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    return st;
}

Host::~Host() {
    (void)stop_kxend();
    // Monitors started by `kxl create` exit once their kxend is gone.
    if (!std::getenv("KXEN_TEST_KEEP")) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

bool Host::kxend_alive() const {
    if (pid_ <= 0) return false;
    int st;
    return ::waitpid(pid_, &st, WNOHANG) == 0;
}

Run Host::kxl(std::vector<std::string> const& args) const {
    std::vector<std::string> argv{std::string(KXEN_BIN_DIR) + "/kxl"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_capture(argv, socket());
}

Run Host::create(std::string const& name, std::string const& extra, std::vector<std::string> more) const {
    std::vector<std::string> args{"create", std::string(KXEN_EXAMPLES) + "/minios.cfg",
                                  "name=\"" + name + "\"", "kernel=\"" + std::string(KXEN_GUEST) + "\"",
                                  "extra=\"" + extra + "\""};
    args.insert(args.end(), more.begin(), more.end());
    return kxl(args);
}

std::string Host::console_log(std::string const& name) const {
    std::ifstream f(state() / "console" / ("guest-" + name + ".log"));
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool Host::wait_console(std::string const& name, std::string const& text, std::chrono::seconds timeout,
                        int count) const {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        auto log = console_log(name);
        int seen = 0;
        for (auto p = log.find(text); p != std::string::npos; p = log.find(text, p + 1)) ++seen;
        if (seen >= count) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

std::optional<std::string> Host::list_line(std::string const& name) const {
    auto r = kxl({"list"});
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(name + " ", 0) == 0) return line;
    return std::nullopt;
}

bool Host::wait_gone(std::string const& name, std::chrono::seconds timeout) const {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (!list_line(name)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

std::string Host::kxend_log() const {
    std::ifstream f(dir_ / "kxend.log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::uint16_t Host::domid(std::string const& name) const {
    auto line = list_line(name);
    if (!line) return 0;
    std::istringstream in(*line);
    std::string n;
    unsigned id = 0;
    in >> n >> id;
    return static_cast<std::uint16_t>(id);
}

std::optional<xs::Handle> Host::store() const {
    for (int i = 0; i < 100; ++i) {
        if (auto s = xs::Handle::open((state() / "xenstored" / "socket").string())) return std::move(*s);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
}

bool type(int s, std::string const& keys) {
    return ::send(s, keys.data(), keys.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(keys.size());
}

int Host::console_socket(unsigned domid) const {
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    auto path = (state() / "console" / "backend.sock").string();
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    std::string hello = std::to_string(domid) + "\n";
    char ok[3];
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::send(s, hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size()) ||
        ::recv(s, ok, 3, MSG_WAITALL) != 3 || std::string(ok, 3) != "OK\n") {
        ::close(s);
        return -1;
    }
    return s;
}

} // namespace kxen::test
