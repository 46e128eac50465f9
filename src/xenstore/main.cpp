// kxenstored: the xenstore daemon of kxen. Xen's xenstored's wire protocol, permission model
// and quotas (and its option names), on a Unix socket; guests' rings through DomainPort.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <malloc.h>
#include <unistd.h>
#include "common/log.hpp"
#include "xenstore/daemon.hpp"
#include "xenstore/privcmd_port.hpp"
#include <xen/xen.h>

using namespace kxen;
using namespace kxen::xenstore;

int main(int argc, char** argv) {
    DaemonOptions opts;
    if (char const* env = std::getenv("XENSTORED_PATH")) opts.socket_path = env;
    std::string state_dir = "/var/lib/kxenstored";
    bool no_persist = false, verbose = false, no_fork = false;
    std::string pid_file, trace_file;
    std::vector<std::string> quota_args;
    auto& q = opts.config.quotas;

    CLI::App app{"kxenstored: the xenstore daemon of kxen"};
    app.add_option("--socket", opts.socket_path,
                   "Unix socket for clients (default: $XENSTORED_PATH or /var/run/xenstored/socket)");
    app.add_option("--state-dir", state_dir, "where the store is saved")->capture_default_str();
    app.add_flag("--no-persist", no_persist, "keep the store in memory only");
    app.add_option("-E,--entry-nb", q.nodes, "nodes a domain may own")->capture_default_str();
    app.add_option("-S,--entry-size", q.node_size, "max. size of a node (bytes)")->capture_default_str();
    app.add_option("-W,--watch-nb", q.watches, "watches per domain")->capture_default_str();
    app.add_option("-t,--transaction", q.transactions, "open transactions per domain")
        ->capture_default_str();
    app.add_option("-A,--perm-nb", q.node_permissions, "ACL entries per node")->capture_default_str();
    app.add_option("-M,--path-max", q.path_max, "max. path length below /local/domain/<id>/")
        ->capture_default_str();
    app.add_option("-Q,--quota", quota_args,
                   "<what>=<n>: nodes, watches, outstanding, transactions, transaction-nodes, "
                   "node-permissions, path-max, node-size");
    auto& cfg = opts.config;
    app.add_option("--max-connections", cfg.max_connections,
                   "socket clients at once; more are closed at once")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--max-watch-events", cfg.max_watch_events,
                   "unread watch events per connection; past it a socket client is dropped, a "
                   "guest's events are discarded (oxenstored's quota-maxwatchevents)")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--max-output-bytes", cfg.max_output_bytes,
                   "memory one connection's unread output may hold, bookkeeping included; past "
                   "it as --max-watch-events")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--congested-bytes", cfg.congested_bytes,
                   "unread output (as --max-output-bytes) at which a connection's requests wait")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--turn-requests", cfg.turn_requests,
                   "requests one connection may have handled per turn before the next one's")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--turn-bytes", cfg.turn_bytes,
                   "watch event bytes one connection's requests may queue per turn")
        ->capture_default_str()->check(CLI::PositiveNumber);
    app.add_flag("-K,--keep-orphans", opts.config.keep_orphans,
                 "a released domain's nodes pass to dom0 instead of being deleted");
    app.add_option("-p,--priv-domid", opts.config.priv_domid, "a domain with dom0's rights");
    app.add_option("-F,--pid-file", pid_file, "write the daemon's pid here");
    app.add_flag("-N,--no-fork", no_fork, "accepted for Xen compatibility (never forks)");
    app.add_option("-T,--trace-file", trace_file, "accepted for Xen compatibility (ignored)");
    app.add_flag("-v,--verbose", verbose, "debug logging");
    std::string privcmd_socket;
    app.add_option("--privcmd", privcmd_socket,
                   "kxend's socket, to reach guests' store rings (without it, only socket clients)");
    CLI11_PARSE(app, argc, argv);

    for (auto const& a : quota_args) {
        auto eq = a.find('=');
        char* end = nullptr;
        unsigned long v = eq == std::string::npos ? 0 : std::strtoul(a.c_str() + eq + 1, &end, 10);
        if (eq == std::string::npos || *end || end == a.c_str() + eq + 1 ||
            !set_quota(q, a.substr(0, eq), static_cast<unsigned>(v))) {
            std::fprintf(stderr, "kxenstored: bad quota \"%s\"\n", a.c_str());
            return 2;
        }
    }
    q.path_max = std::min(q.path_max, unsigned{XENSTORE_REL_PATH_MAX});
    if (!no_persist) opts.state_dir = state_dir;

    // Buffers of clients that stopped reading are big and short-lived: give each its own
    // mapping, returned when freed, instead of letting glibc raise this threshold past them
    // and keep their pages in the heap.
    ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);

    log::set_tag("kxenstored");
    if (verbose) log::set_min_level(log::Level::debug);

    // Guests' rings need kxend (foreign maps, event channels); plain socket clients do not.
    std::optional<privcmd::Client> hv;
    std::optional<privcmd::Client::BoundPort> dom_exc;
    if (!privcmd_socket.empty()) {
        auto c = privcmd::Client::connect(privcmd_socket);
        if (!c) {
            log::error("cannot reach kxend at {}: {}", privcmd_socket, c.error().message());
            return 1;
        }
        hv.emplace(std::move(*c));
        opts.live_domains = [&hv]() -> std::optional<std::vector<LiveDomain>> {
            auto list = hv->domain_list();
            if (!list) return std::nullopt;
            std::vector<LiveDomain> live;
            for (auto const& d : *list)
                live.push_back({d.domain, (d.flags & (XEN_DOMINF_shutdown | XEN_DOMINF_dying)) != 0});
            return live;
        };
        // Shutdowns and deaths are seen at once, not at the next second's look.
        if (auto p = hv->evtchn_bind_virq(VIRQ_DOM_EXC)) {
            dom_exc = std::move(*p);
            opts.dom_exc_fd = dom_exc->fd.raw();
        }
    }
    auto daemon = Daemon::create(std::move(opts), hv ? privcmd_domain_ports(*hv) : no_domain_ports());
    if (!daemon) {
        log::error("{}", daemon.error().message());
        return 1;
    }
    if (!pid_file.empty()) std::ofstream{pid_file} << ::getpid() << '\n';
    return (*daemon)->run();
}
