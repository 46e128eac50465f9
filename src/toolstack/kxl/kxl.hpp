// kxl: the toolstack CLI, xl's subcommands and options. One file per subcommand family.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include "common/xen_err.hpp"
#include "privcmd/client.hpp"
#include "toolstack/kxl/domain_save.hpp"
#include "toolstack/xl_cfg_domain.hpp"

namespace kxen::kxl {

struct Globals {
    std::string socket;   // --socket (else $KXEN_SOCKET, else the default)
};

// Connect or print why not; nullopt means "already reported".
std::optional<privcmd::Client> connect(Globals const& g);
// A domain named by id or by name (as xl accepts both).
std::optional<std::uint16_t> resolve_domain(privcmd::Client& c, std::string const& what);
// "Xen error -3 (No such process)"-style text for messages.
std::string describe(XenErr e);

struct CreateArgs {
    std::string config;
    std::vector<std::string> overrides;
    bool console = false;   // -c
    bool paused = false;    // -p
    bool no_monitor = false;  // -e: don't wait in the background for the domain's death
    bool quiet = false;     // -q
};
int cmd_create(Globals const& g, CreateArgs const& a);
int cmd_list(Globals const& g, bool long_json, std::vector<std::string> const& doms);
int cmd_destroy(Globals const& g, std::string const& dom);
int cmd_pause(Globals const& g, std::string const& dom, bool pause);
struct ShutdownArgs {
    std::string dom;
    bool reboot = false;
    bool wait = false;       // -w
    bool fallback = false;   // -F: when the guest cannot or does not answer, shut it down from outside
    unsigned timeout_s = 30; // how long -F waits for the guest to take the request
};
int cmd_shutdown(Globals const& g, ShutdownArgs const& a);
int cmd_info(Globals const& g);
int cmd_dmesg(Globals const& g, bool clear);
int cmd_console(Globals const& g, std::string const& dom);
// Detach from the terminal as xl's daemonized child does: true in the (grand)child.
bool daemonize();
// xl's per-domain monitor, left running in the background.
void start_monitor(Globals const& g, toolstack::DomainConfig const& cfg, std::uint16_t domid);
// SIGINT/SIGTERM request `c` (and SIGPIPE is ignored) for the rest of the process.
void cancel_on_signals(Cancel& c);

struct SaveArgs {
    std::string dom, file, config;
    bool checkpoint = false;   // -c: the domain runs on after the save
    bool paused = false;       // -p: ... paused
};
int cmd_save(Globals const& g, SaveArgs const& a);
// Save and migrate progress on stderr: one line rewritten on a terminal, a line each otherwise.
std::function<void(SaveProgress const&)> progress_printer(char const* what);
struct RestoreArgs {
    std::string file, config;
    bool paused = false, no_monitor = false, console = false;
};
int cmd_restore(Globals const& g, RestoreArgs const& a);
struct MigrateArgs {
    std::string dom, dest;
    std::string ssh = "ssh";        // -s: the command that reaches the remote host
    bool live = true;               // --live (default); --no-live: stop first, copy once
    bool paused = false;            // -p: the domain is left paused on the destination
    bool debug = false;             // --debug: the destination checks every page once more
    double downtime_ms = 300;       // --downtime: the stop-and-copy target
    unsigned max_iterations = 30;
    bool zstd = false;              // --zstd: compress the stream on the wire
    std::string receiver = "kxl";   // --receiver: the toolstack the remote host runs (kxl or xl)
};
int cmd_migrate(Globals const& g, MigrateArgs const& a);
struct MigrateReceiveArgs {
    std::uint16_t listen = 0;   // --listen PORT: TCP instead of stdin/stdout
    bool paused = false;        // -p
    bool no_monitor = false;    // -e
    bool zstd = false;          // --zstd: the sender compresses
};
int cmd_migrate_receive(Globals const& g, MigrateReceiveArgs const& a);

struct BlockAttachArgs {
    std::string dom;
    std::vector<std::string> spec;   // the pieces of one xl disk spec, joined with commas
};
int cmd_block_attach(Globals const& g, BlockAttachArgs const& a);
struct BlockDetachArgs {
    std::string dom, disk;   // disk: its vdev or devid
    bool force = false;      // --force: remove it even if the guest does not let go
};
int cmd_block_detach(Globals const& g, BlockDetachArgs const& a);
int cmd_block_list(Globals const& g, std::vector<std::string> const& doms);

// Follow a domain's console until it is destroyed or the user types Ctrl-].
int attach_console(privcmd::Client& c, std::uint16_t domid);

} // namespace kxen::kxl
