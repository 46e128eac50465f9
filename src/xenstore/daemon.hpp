// kxen::xenstore::Daemon: kxenstored's process: the Unix socket clients connect to, the
// epoll loop, signals, and the saved state. The protocol is Server's.
#pragma once
#include <filesystem>
#include <functional>
#include <vector>
#include <memory>
#include <optional>
#include <string>
#include "common/sys_error.hpp"
#include "common/unique_fd.hpp"
#include "xenstore/event_loop.hpp"
#include "xenstore/persist.hpp"
#include "xenstore/server.hpp"

namespace kxen::xenstore {

struct DaemonOptions {
    std::string socket_path = "/var/run/xenstored/socket";
    std::optional<std::filesystem::path> state_dir;   // none: nothing is saved
    Config config;
    // The domains the hypervisor has (dom0 included), asked once a second and whenever
    // dom_exc_fd is readable; empty, or nothing returned: not known.
    std::function<std::optional<std::vector<LiveDomain>>()> live_domains;
    // An eventfd bound to VIRQ_DOM_EXC (a domain shut down or died), or -1.
    int dom_exc_fd = -1;
};

class Daemon final : public IoHooks {
public:
    static SysResult<std::unique_ptr<Daemon>> create(DaemonOptions opts,
                                                     DomainPortFactory factory);
    ~Daemon() override;

    // Serves until SIGINT or SIGTERM; then saves the state. The exit status.
    int run();

    Server& server() { return server_; }

    void added(Connection& c) override;
    void removed(Connection& c) override;
    void update(Connection& c) override;

private:
    Daemon(DaemonOptions opts, DomainPortFactory factory, EventLoop loop);
    SysResult<void> start();
    SysResult<void> listen();
    void attach_saved(SavedDomain const& d);
    void accept_some();
    void save(bool final);
    void check_domains();
    void give_back_memory();
    std::uint32_t interest(Connection const& c) const;

    DaemonOptions opts_;
    EventLoop loop_;
    Server server_;
    std::unique_ptr<Persist> persist_;
    UniqueFd listen_fd_, signal_fd_, timer_fd_;
    bool refusing_ = false;   // at max_connections (logged once per spell)
};

} // namespace kxen::xenstore
