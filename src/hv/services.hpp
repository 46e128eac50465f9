// kxen::hv::Services: the dom0 daemons a host needs (kxenstored, kxen-backend), started and
// restarted by kxend as Xen's xencommons starts them, each pointed at this host's socket and
// state directory so that several hosts can run side by side.
#pragma once
#include <sys/types.h>
#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kxen::hv {

class Services {
public:
    Services() = default;
    ~Services();
    // Supervise `path args...`: restarted whenever it exits, after a delay that grows while
    // it keeps dying within seconds of its start.
    void start(std::string path, std::vector<std::string> args);

private:
    struct Child {
        std::string path;
        std::vector<std::string> args;
        pid_t pid = -1;
        unsigned restarts = 0;
        std::uint64_t next_start_ms = 0;
        std::uint64_t started_ms = 0;
    };
    void spawn(Child& c);
    void loop();
    std::mutex mu_;
    std::vector<Child> children_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace kxen::hv
