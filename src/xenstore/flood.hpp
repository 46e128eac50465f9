// kxen::xenstore::flood: hostile local clients against a running xenstored, and an ordinary
// client timing its reads meanwhile. Shared by the fairness test (tests/xenstore) and
// kxen-bench-xenstore-flood, so that the test and the reported figures run the same load.
//
// The load (issue 12's starvation scenario): `watchers` connections each set `watches_each`
// watches on one subtree and pipeline writes of `value_bytes` under it, never reading; `readers`
// connections pipeline reads and never read the replies. A connection the daemon hangs up on
// comes back (with its watches), so the pressure lasts for the whole run.
#pragma once
#include <sys/types.h>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kxen::xenstore::flood {

struct Options {
    std::string socket;
    pid_t daemon_pid = 0;          // for VmRSS; 0: not sampled
    int watchers = 50;
    int watches_each = 50;
    int readers = 150;
    std::size_t value_bytes = 1024;
    int names = 16;                // node names each watcher cycles through (so events repeat)
    double seconds = 10;
    int probe_interval_ms = 10;
    double probe_timeout_s = 5;    // a read not answered by then counts as unanswered
    double settle_s = 5;           // after the flood closes, wait up to this for RSS to fall
};

struct Result {
    std::size_t probes = 0;            // reads the ordinary client sent
    std::size_t answered = 0;          // ... answered with the node's value in time
    std::vector<double> latency_ms;    // of the answered ones
    double p50_ms = 0, p99_ms = 0, max_ms = 0;
    long rss_start_kb = 0;             // before the flood
    long rss_peak_kb = 0;              // while it ran
    long rss_end_kb = 0;               // after its clients closed and the daemon settled
    std::uint64_t flood_requests = 0;  // requests the flood clients got into the socket
    std::uint64_t hangups = 0;         // times the daemon dropped a flood client
    std::uint64_t refused = 0;         // flood connections closed before they were served
    std::string error;                 // setup failed
};

Result run(Options const& o);

// VmRSS of a process in KiB; 0 if unreadable.
long rss_kb(pid_t pid);

// One kxenstored (or any xenstored taking --socket) of our own, killed on destruction.
class DaemonProcess {
public:
    // Starts `argv` (argv[0] a path) and waits until `socket` accepts connections. Its
    // output goes to `log` (appended), or nowhere.
    static DaemonProcess start(std::vector<std::string> const& argv, std::string const& socket,
                               std::string& err, std::string const& log = {});
    DaemonProcess() = default;
    DaemonProcess(DaemonProcess&& o) noexcept : pid_{o.pid_} { o.pid_ = 0; }
    DaemonProcess& operator=(DaemonProcess&& o) noexcept;
    ~DaemonProcess() { stop(); }
    pid_t pid() const { return pid_; }
    bool alive();   // reaps it if it died
    void stop();

private:
    pid_t pid_ = 0;
};

} // namespace kxen::xenstore::flood
