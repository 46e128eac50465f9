#include "xen_tools.hpp"
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <signal.h>

namespace kxen::test {
namespace fs = std::filesystem;

namespace {
std::string make_dom0_dirs() {
    if (::geteuid() != 0) return "SKIPPED: Xen's tools need root for a private /var/lib/xen (mount namespace)";
    if (!fs::exists(debs_root / "usr/lib/xen-4.17/bin/xl"))
        return "SKIPPED: Debian's xen-utils-4.17 is not unpacked at " + debs_root.string() + " (scripts/setup.sh)";
    if (::unshare(CLONE_NEWNS) != 0) return std::string("SKIPPED: unshare(CLONE_NEWNS): ") + std::strerror(errno);
    // Nothing mounted here may reach the host's namespace.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return std::string("mount --make-rprivate /: ") + std::strerror(errno);
    for (char const* dir : {"/var/lib", "/run", "/var/log"})
        if (::mount("kxen-dom0", dir, "tmpfs", 0, "mode=0755") != 0)
            return std::string("mount tmpfs on ") + dir + ": " + std::strerror(errno);
    for (char const* dir : {"/var/lib/xen", "/run/xen", "/run/lock", "/var/log/xen"}) ::mkdir(dir, 0755);
    // libxl runs its helpers (xenconsole, libxl-save-helper) from this compiled-in directory;
    // Debian's libxenmisc4.17 (a libxen-dev dependency) owns it, so it exists to mount on.
    auto bin = debs_root / "usr/lib/xen-4.17";
    if (::mount(bin.c_str(), "/usr/lib/xen-4.17", nullptr, MS_BIND, nullptr) != 0)
        return std::string("bind-mount ") + bin.string() + " on /usr/lib/xen-4.17: " + std::strerror(errno);
    return {};
}
} // namespace

std::string xen_tools_unavailable_reason() {
    static std::string const why = make_dom0_dirs();
    return why;
}

std::vector<std::string> xen_tool_argv(std::string const& name, std::vector<std::string> const& args) {
    std::vector<std::string> argv{(debs_root / "usr/lib/xen-4.17/bin" / name).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::vector<std::pair<std::string, std::string>> xen_tool_env(Host const& h) {
    return {{"KXEN_SOCKET", h.socket()},
            {"XENSTORED_PATH", (h.state() / "xenstored" / "socket").string()},
            {"LD_LIBRARY_PATH", xenlibs_dir.string() + ":" + (debs_root / "usr/lib/x86_64-linux-gnu").string()}};
}

Run xen_tool(Host const& h, std::string const& name, std::vector<std::string> const& args) {
    return run(xen_tool_argv(name, args), xen_tool_env(h));
}

void kill_xen_tools(Host const& h) {
    std::string const mine = "KXEN_SOCKET=" + h.socket();
    std::error_code ec;
    for (auto const& e : fs::directory_iterator("/proc", ec)) {
        auto pid = e.path().filename().string();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream f(e.path() / "environ");
        std::string env{std::istreambuf_iterator<char>(f), {}};
        for (std::size_t p = 0; p < env.size(); p = env.find('\0', p) + 1) {
            if (env.compare(p, mine.size() + 1, mine + '\0') == 0) {
                ::kill(std::stoi(pid), SIGKILL);
                break;
            }
            if (env.find('\0', p) == std::string::npos) break;
        }
    }
}

int occurrences(std::string const& text, std::string const& what) {
    int n = 0;
    for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
}

OnPty::OnPty(std::vector<std::string> const& argv, std::vector<std::pair<std::string, std::string>> const& env) {
    pid_ = ::forkpty(&fd_, nullptr, nullptr, nullptr);
    if (pid_ == 0) {
        for (auto const& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

OnPty::~OnPty() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
}

bool OnPty::type(std::string const& keys) const {
    return ::write(fd_, keys.data(), keys.size()) == static_cast<ssize_t>(keys.size());
}

bool OnPty::wait_for(std::string const& text, std::chrono::seconds timeout, int count) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (seen(text) < count) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        char buf[4096];
        auto n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) return false;
        out_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
}

std::optional<int> OnPty::wait_exit(std::chrono::seconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        char buf[4096];
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) > 0)
            if (auto n = ::read(fd_, buf, sizeof buf); n > 0) out_.append(buf, static_cast<std::size_t>(n));
    }
    return std::nullopt;
}

int OnPty::seen(std::string const& text) const { return occurrences(out_, text); }

} // namespace kxen::test
