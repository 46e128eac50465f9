// A kxen host for one test: kxend on its own socket and state directory, kxl run against it,
// and the consoles it logs. Tests boot the real minios under the real kxend.
#pragma once
#include <sys/types.h>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include "xenstore/client/xs.hpp"

namespace kxen::test {

// The accelerator the tests' kxend runs guests on (KXEN_TEST_ACCEL: soft, the default, or kvm).
std::string accel();
// Why that accelerator cannot run here, or empty if it can (soft always can).
std::string accel_unavailable_reason();

struct Run {
    int status = -1;       // exit code
    std::string out;       // stdout + stderr
};

// Runs argv (argv[0] a path) to its end. `env` is set in its environment, or removed where the
// value is empty.
Run run(std::vector<std::string> const& argv, std::vector<std::pair<std::string, std::string>> const& env = {});

// Sends keys to a console socket (Host::console_socket) as a person typing them would.
bool type(int console_socket, std::string const& keys);

class Host {
public:
    struct Options {
        bool kxenstored = true;   // false: kxend --no-xenstored (the test runs a store itself)
    };
    Host() : Host(Options{}) {}
    explicit Host(Options opt);
    ~Host();
    Host(Host const&) = delete;
    Host& operator=(Host const&) = delete;

    [[nodiscard]] bool started() const { return pid_ > 0; }
    [[nodiscard]] bool kxend_alive() const;
    [[nodiscard]] pid_t kxend_pid() const { return pid_; }
    [[nodiscard]] std::filesystem::path const& dir() const { return dir_; }
    [[nodiscard]] std::string socket() const { return (dir_ / "privcmd").string(); }
    [[nodiscard]] std::filesystem::path state() const { return dir_ / "state"; }

    Run kxl(std::vector<std::string> const& args) const;
    // kxl create examples/minios.cfg with overrides; returns the kxl result.
    Run create(std::string const& name, std::string const& extra, std::vector<std::string> more = {}) const;
    [[nodiscard]] std::string console_log(std::string const& name) const;
    // Wait until the guest's console log holds `text` (count times); false on timeout.
    bool wait_console(std::string const& name, std::string const& text,
                      std::chrono::seconds timeout = std::chrono::seconds(60), int count = 1) const;
    // The `kxl list` line of a domain, or nothing if it is not listed.
    std::optional<std::string> list_line(std::string const& name) const;
    // The id `kxl list` shows for a domain; 0 if it is not listed.
    [[nodiscard]] std::uint16_t domid(std::string const& name) const;
    // The host's xenstore through Xen's client library, once kxenstored serves it.
    [[nodiscard]] std::optional<xs::Handle> store() const;
    // kxen-backend's console socket attached to `domid` (kxl console's protocol); -1 if refused.
    [[nodiscard]] int console_socket(unsigned domid) const;
    bool wait_gone(std::string const& name, std::chrono::seconds timeout = std::chrono::seconds(30)) const;
    [[nodiscard]] std::string kxend_log() const;
    // SIGTERM to kxend, then its wait status (SIGKILL after 5 s; -1 if it was not running).
    int stop_kxend();

private:
    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

} // namespace kxen::test

// A test run on KVM where /dev/kvm is missing is reported SKIPPED with the reason.
#define KXEN_REQUIRE_ACCEL()                                            \
    do {                                                                \
        if (auto why = ::kxen::test::accel_unavailable_reason(); !why.empty()) \
            GTEST_SKIP() << why;                                        \
    } while (0)
