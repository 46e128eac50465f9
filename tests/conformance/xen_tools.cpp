#include "xen_tools.hpp"
#include <sched.h>
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

} // namespace kxen::test
