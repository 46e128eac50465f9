// kxen::backends::ConsoleBackend: the dom0 side of every guest's PV console (what xenconsoled
// is on Xen). It finds guests with a console page and event channel (HVM_PARAM_CONSOLE_PFN/
// EVTCHN), logs their output to <state-dir>/console/guest-<name>.log, gives each a pty named in
// /local/domain/<id>/console/tty as xenconsoled does (libxl waits for that node, and Xen's
// `xenconsole` opens it), and serves <state-dir>/console/backend.sock, where `kxl console`
// attaches to read and type.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <string>
#include "backends/console/console_ring.hpp"
#include "common/unique_fd.hpp"
#include "privcmd/client.hpp"
#include "xenstore/client/xs.hpp"

namespace kxen::backends {

class ConsoleBackend {
public:
    ConsoleBackend(privcmd::Client c, std::string state_dir);
    // Runs until stop() or a fatal error; returns the exit status.
    int run();
    void stop();

private:
    struct Guest {
        std::uint16_t domid;
        std::string name;
        privcmd::ForeignMap page;
        privcmd::Client::BoundPort port;
        std::unique_ptr<ConsoleRing> ring;
        UniqueFd log;
        std::vector<int> clients;
        // The pty's slave side stays open here, so the master never reads EIO while no
        // xenconsole has it open; output nobody reads stays in the pty until it is full.
        UniqueFd pty, pty_slave;
        std::string tty;
        bool tty_published = false;
    };
    void publish_tty(Guest& g);
    void open_pty(Guest& g);
    void pty_input(Guest& g);
    void rescan();
    void connect_store();
    void store_event();
    void attach(std::uint16_t domid);
    void detach(std::uint16_t domid);
    void drain(Guest& g);
    void accept_client();
    void client_input(int fd);
    void drop_client(int fd);

    privcmd::Client c_;
    std::string dir_;
    UniqueFd epoll_, listen_, timer_, stop_;
    std::map<std::uint16_t, Guest> guests_;
    std::set<std::uint16_t> refused_;
    // Domain introductions and releases wake us at once; the timer only catches what the store
    // does not announce (a host without kxenstored, domains built without a store).
    std::optional<xs::Handle> store_;
    std::map<int, std::uint16_t> event_fds_;    // eventfd -> domid
    std::map<int, std::uint16_t> pty_fds_;      // pty master -> domid
    std::map<int, std::uint16_t> clients_;      // client socket -> domid (0: not attached yet)
    std::map<int, UniqueFd> client_fds_;
};

} // namespace kxen::backends
