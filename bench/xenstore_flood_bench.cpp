// kxen-bench-xenstore-flood: an ordinary client's read latency and the daemon's memory while
// hostile local clients flood xenstored (issue 12's starvation scenario, src/xenstore/flood.hpp):
// 50 connections with 50 watches each on one subtree pipelining 1 KiB writes under it, 150
// pipelining reads, none of them reading a byte, all reconnecting when dropped; meanwhile a
// fresh connection reads one node every 10 ms. Each daemon given with --daemon runs once, on a
// socket of its own, so that two builds (before and after a change) are measured alike.
#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include "common/proc.hpp"
#include "xenstore/flood.hpp"

namespace fs = std::filesystem;
using namespace kxen::xenstore;

int main(int argc, char** argv) {
    std::vector<std::string> daemons;
    std::vector<std::string> extra;
    flood::Options o;
    CLI::App app{"kxen-bench-xenstore-flood: read latency and RSS of kxenstored under a hostile flood"};
    app.add_option("--daemon", daemons, "LABEL=PATH of a kxenstored to measure (repeatable); "
                                        "default this build's");
    app.add_option("--daemon-arg", extra, "extra argument for every daemon (repeatable)");
    app.add_option("--seconds", o.seconds, "length of the flood")->capture_default_str();
    app.add_option("--watchers", o.watchers, "connections that watch and write")->capture_default_str();
    app.add_option("--watches", o.watches_each, "watches per watcher")->capture_default_str();
    app.add_option("--readers", o.readers, "connections that pipeline reads")->capture_default_str();
    app.add_option("--value-bytes", o.value_bytes, "size of each written value")->capture_default_str();
    app.add_option("--probe-timeout", o.probe_timeout_s, "seconds before a read counts as unanswered")
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    if (daemons.empty()) daemons.push_back("this=" KXEN_BIN_DIR "/kxenstored");

    std::printf("# %s\n", kxen::bench::host_description().c_str());
    std::printf("# flood: %d watchers x %d watches, %d readers, %zu-byte values, %.0f s; "
                "a read every %d ms (timeout %.0f s)\n",
                o.watchers, o.watches_each, o.readers, o.value_bytes, o.seconds,
                o.probe_interval_ms, o.probe_timeout_s);
    std::printf("%-10s %9s %9s %9s %9s %9s %10s %10s %10s %9s %12s\n", "daemon", "reads",
                "answered", "p50 ms", "p99 ms", "max ms", "RSS0 MiB", "peak MiB", "after MiB",
                "drops", "flood reqs");
    int status = 0;
    for (auto const& spec : daemons) {
        auto eq = spec.find('=');
        std::string label = eq == std::string::npos ? spec : spec.substr(0, eq);
        std::string bin = eq == std::string::npos ? spec : spec.substr(eq + 1);
        char tmpl[] = "/tmp/kxen-bench-flood-XXXXXX";
        if (!::mkdtemp(tmpl)) {
            std::perror("mkdtemp");
            return 1;
        }
        fs::path dir{tmpl};
        o.socket = (dir / "socket").string();
        std::vector<std::string> args{bin, "--socket", o.socket, "--no-persist"};
        args.insert(args.end(), extra.begin(), extra.end());
        std::string err;
        auto d = flood::DaemonProcess::start(args, o.socket, err);
        if (!d.pid()) {
            std::fprintf(stderr, "%s: %s\n", label.c_str(), err.c_str());
            status = 1;
            continue;
        }
        o.daemon_pid = d.pid();
        auto r = flood::run(o);
        bool alive = d.alive();
        d.stop();
        std::error_code ec;
        fs::remove_all(dir, ec);
        if (!r.error.empty()) {
            std::fprintf(stderr, "%s: %s\n", label.c_str(), r.error.c_str());
            status = 1;
            continue;
        }
        std::printf("%-10s %9zu %9zu %9.1f %9.1f %9.1f %10.1f %10.1f %10.1f %9llu %12llu%s\n",
                    label.c_str(), r.probes, r.answered, r.p50_ms, r.p99_ms, r.max_ms,
                    static_cast<double>(r.rss_start_kb) / 1024, static_cast<double>(r.rss_peak_kb) / 1024,
                    static_cast<double>(r.rss_end_kb) / 1024,
                    static_cast<unsigned long long>(r.hangups),
                    static_cast<unsigned long long>(r.flood_requests), alive ? "" : "  (daemon died)");
        std::fflush(stdout);
    }
    std::printf("# load at end %s\n", kxen::bench::first_line_of("cat /proc/loadavg").c_str());
    return status;
}
