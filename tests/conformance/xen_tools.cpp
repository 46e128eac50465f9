#include "xen_tools.hpp"
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

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
    for (char const* dir : {"/var/lib", "/run"})
        if (::mount("kxen-dom0", dir, "tmpfs", 0, "mode=0755") != 0)
            return std::string("mount tmpfs on ") + dir + ": " + std::strerror(errno);
    for (char const* dir : {"/var/lib/xen", "/run/xen", "/run/lock"}) ::mkdir(dir, 0755);
    return {};
}
} // namespace

std::string xen_tools_unavailable_reason() {
    static std::string const why = make_dom0_dirs();
    return why;
}

Run xen_tool(Host const& h, std::string const& name, std::vector<std::string> const& args) {
    std::vector<std::string> argv{(debs_root / "usr/lib/xen-4.17/bin" / name).string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {{"KXEN_SOCKET", h.socket()},
                      {"XENSTORED_PATH", (h.state() / "xenstored" / "socket").string()},
                      {"LD_LIBRARY_PATH", xenlibs_dir.string() + ":" + (debs_root / "usr/lib/x86_64-linux-gnu").string()}});
}

} // namespace kxen::test
