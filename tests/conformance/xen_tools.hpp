// Debian's Xen 4.17 userspace run against a kxen host, with kxen's drop-in libraries first on
// LD_LIBRARY_PATH (src/xenlibs). The packages are unpacked into .cache (scripts/debs.sh),
// never installed.
#pragma once
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include "../integration/host.hpp"

namespace kxen::test {

// Where Debian's packages were unpacked, and where kxen's libraries are.
inline std::filesystem::path const debs_root{KXEN_XEN_DEBS};
inline std::filesystem::path const xenlibs_dir{KXEN_XENLIBS_DIR};

// Why Xen's tools cannot run here (empty if they can). Their dom0 state directories
// (/var/lib/xen, /run/xen, /var/lock) are compiled in: each test process gets its own, in a
// mount namespace of its own, which needs root.
std::string xen_tools_unavailable_reason();

// A Debian Xen program (lib/xen-4.17/bin/NAME) and the environment that points it at `h`.
std::vector<std::string> xen_tool_argv(std::string const& name, std::vector<std::string> const& args);
std::vector<std::pair<std::string, std::string>> xen_tool_env(Host const& h);
// That program run to its end.
Run xen_tool(Host const& h, std::string const& name, std::vector<std::string> const& args);
// Kills what Xen's tools left running against `h` (xl's per-domain monitor daemons): on Xen the
// store they watch never goes away, so they would wait for it forever.
void kill_xen_tools(Host const& h);
inline Run xl(Host const& h, std::vector<std::string> const& args) { return xen_tool(h, "xl", args); }

// How many times `what` appears in `text` (a guest's checked reports in its console log).
int occurrences(std::string const& text, std::string const& what);

// A program on a terminal of its own, as a person at a shell runs `xl console` or
// `virsh console`.
class OnPty {
public:
    OnPty(std::vector<std::string> const& argv, std::vector<std::pair<std::string, std::string>> const& env);
    ~OnPty();
    OnPty(OnPty const&) = delete;
    OnPty& operator=(OnPty const&) = delete;

    [[nodiscard]] bool started() const { return pid_ > 0 && fd_ >= 0; }
    // Everything the program has written to its terminal so far.
    [[nodiscard]] std::string const& screen() const { return out_; }
    bool type(std::string const& keys) const;
    // Reads the terminal until `text` has appeared (count times in all); false on timeout or
    // when the program has closed its terminal first.
    bool wait_for(std::string const& text, std::chrono::seconds timeout, int count = 1);
    // The exit status once the program has ended within `timeout`, else nothing.
    std::optional<int> wait_exit(std::chrono::seconds timeout);

private:
    int seen(std::string const& text) const;
    pid_t pid_ = -1;
    int fd_ = -1;
    std::string out_;
};

} // namespace kxen::test

#define KXEN_REQUIRE_XEN_TOOLS()                                                   \
    do {                                                                           \
        if (auto why = ::kxen::test::xen_tools_unavailable_reason(); !why.empty()) \
            GTEST_SKIP() << why;                                                   \
    } while (0)
