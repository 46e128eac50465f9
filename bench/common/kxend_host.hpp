// A kxend for one benchmark run: its own socket and state directory under /tmp, started
// and stopped by the benchmark (as tests/integration/host.cpp does for the tests).
#pragma once
#include <sys/types.h>
#include <expected>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace kxen::bench {

class KxendHost {
public:
    // Starts `kxend_bin --socket DIR/privcmd --state-dir DIR/state --log-level warn
    // [--no-services] ARGS` and waits until the socket answers. Without `services`, kxend runs
    // alone (no kxenstored/kxen-backend beside it): the benchmarks measure the hypervisor.
    static auto start(std::string const& kxend_bin, bool services = false, std::vector<std::string> const& args = {})
        -> std::expected<std::unique_ptr<KxendHost>, std::string>;
    ~KxendHost();   // SIGTERM, then SIGKILL after 10 s; removes DIR unless $KXEN_BENCH_KEEP
    KxendHost(KxendHost const&) = delete;
    KxendHost& operator=(KxendHost const&) = delete;

    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] std::string socket() const { return (dir_ / "privcmd").string(); }
    [[nodiscard]] std::filesystem::path state_dir() const { return dir_ / "state"; }
    [[nodiscard]] std::filesystem::path log_path() const { return dir_ / "kxend.log"; }
    [[nodiscard]] bool alive() const;
    // Stops kxend now; returns the seconds it took to exit.
    double stop();

private:
    KxendHost() = default;
    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

// Does a Unix seqpacket socket at `path` accept a connection?
bool socket_answers(std::string const& path);

} // namespace kxen::bench
