// kxen-bench-density: how many idle minios domains one kxend holds, what each costs the
// host, and how creation time grows; beside it, bare KVM (VM + vCPU + one memslot per VM)
// to the same target in the same run.
//
// The kxen domains run `test=hello on_done=stay`: they boot, print PASS and block for good
// (no timers), so N domains cost memory and descriptors but no CPU. The memory size is the
// smallest of 1, 2, 4 MiB that boots, found by trying them first (or --memory).
#include <sys/resource.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include "bare_kvm.hpp"
#include "common/guest.hpp"
#include "common/kxend_host.hpp"
#include "common/proc.hpp"
#include "density_kxen.hpp"
#include "toolstack/kxl/domain_create.hpp"

using namespace kxen;
using namespace kxen::bench;

namespace {

struct Options {
    long target = 8000;
    long every = 500;
    int memory = 0;   // 0: probe 1, 2, 4
    std::string socket;
    int kxend_pid = 0;
    std::string kxend = KXEN_BIN_DIR "/kxend";
    bool services = false;
    std::string kernel = KXEN_GUEST;
    std::string config = KXEN_EXAMPLES "/minios.cfg";
    bool skip_kxen = false, skip_bare = false, keep = false;
    KxenOptions kx;
};

std::vector<std::string> overrides(Options const& o, int mib) {
    return {"kernel=\"" + o.kernel + "\"", "memory=" + std::to_string(mib), "extra=\"test=hello on_done=stay\""};
}

// Tries each size: does a domain build, boot and print PASS? Returns the smallest that does.
int probe_memory(privcmd::Client& c, Options const& o) {
    fmt::print("smallest memory that boots minios test=hello on_done=stay:\n");
    int chosen = 0;
    for (int mib : {1, 2, 4}) {
        auto cfg = domain_config(o.config, overrides(o, mib));
        if (!cfg) {
            fmt::print("  memory={}: config: {}\n", mib, cfg.error());
            continue;
        }
        cfg->name = fmt::format("probe-{}", mib);
        auto domid = kxl::create_domain(c, *cfg, false);
        if (!domid) {
            fmt::print("  memory={}: does not build: {}\n", mib, domid.error());
            continue;
        }
        bool ok = wait_console(c, *domid, "KXEN-TEST hello PASS", std::chrono::seconds(30));
        auto info = c.domain_info(*domid);
        (void)c.destroy_domain(*domid);
        fmt::print("  memory={}: {}\n", mib,
                   ok ? "boots (PASS)" : info && (info->flags & XEN_DOMINF_shutdown) ? "builds, guest shut down without PASS"
                                                                                     : "builds, no PASS within 30 s");
        if (ok && !chosen) chosen = mib;
    }
    return chosen;
}

std::string tail_of(std::filesystem::path const& p, std::size_t lines) {
    std::ifstream f(p);
    std::vector<std::string> all;
    std::string l;
    while (std::getline(f, l)) all.push_back(l);
    std::ostringstream out;
    for (auto i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out << "    " << all[i] << "\n";
    return out.str();
}

int run_kxen(Options& o, Curve& out) {
    std::unique_ptr<KxendHost> host;
    std::string socket = o.socket;
    pid_t pid = o.kxend_pid;
    if (socket.empty()) {
        auto h = KxendHost::start(o.kxend, o.services);
        if (!h) {
            fmt::print(stderr, "kxen-bench-density: {}\n", h.error());
            return 1;
        }
        host = std::move(*h);
        socket = host->socket();
        pid = host->pid();
    } else if (pid <= 0) {
        fmt::print(stderr, "kxen-bench-density: --socket needs --kxend-pid (its /proc is what is measured)\n");
        return 1;
    }
    auto client = privcmd::Client::connect(socket);
    if (!client) {
        fmt::print(stderr, "kxen-bench-density: connect {}: {}\n", socket, client.error().message());
        return 1;
    }
    int mib = o.memory ? o.memory : probe_memory(*client, o);
    if (!mib) {
        fmt::print("no memory size boots; stopping\n");
        return 1;
    }
    auto cfg = domain_config(o.config, overrides(o, mib));
    if (!cfg) {
        fmt::print(stderr, "kxen-bench-density: {}\n", cfg.error());
        return 1;
    }
    fmt::print("\nkxen: creating up to {} domains of {} MiB (test=hello on_done=stay) in kxend pid {}\n", o.target, mib,
               pid);
    auto r = run_kxen_density(*client, pid, *cfg, o.kx);
    print_curve(r.curve);
    fmt::print("\n  after the last create: all domains blocked or down after {:.1f} s: {} blocked, {} shut down, "
               "{} printed PASS\n", r.settle_s, r.blocked, r.shut_down, r.passed);
    fmt::print("\n  host memory, {} domains alive and idle (baseline = kxend before the first domain):\n",
               r.curve.reached);
    print_delta(r.curve.base, r.settled, r.curve.reached, "kxend");
    if (o.kx.destroy) {
        fmt::print("\n  destroy all {}: {:.2f} s ({:.3f} ms each); host memory back {:.2f} s later; vs baseline:\n",
                   r.curve.reached, r.destroy_s,
                   r.curve.reached ? r.destroy_s * 1000 / static_cast<double>(r.curve.reached) : 0.0, r.reclaim_s);
        print_delta(r.curve.base, r.destroyed, r.curve.reached, "kxend");
    }
    if (host && r.curve.stop != "target reached")
        fmt::print("\n  kxend log (last lines):\n{}", tail_of(host->log_path(), 8));
    if (host) fmt::print("\n  kxend stopped in {:.2f} s\n", host->stop());
    out = std::move(r.curve);
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"kxen-bench-density: idle minios domains per kxend vs bare KVM VMs"};
    app.add_option("--target", o.target, "domains (and bare VMs) to create")->capture_default_str();
    app.add_option("--every", o.every, "a curve point every this many VMs")->capture_default_str();
    app.add_option("--memory", o.memory, "guest MiB (default: the smallest of 1, 2, 4 that boots)");
    app.add_option("--socket", o.socket, "use this running kxend (needs --kxend-pid)");
    app.add_option("--kxend-pid", o.kxend_pid, "pid of the kxend behind --socket");
    app.add_option("--kxend", o.kxend)->capture_default_str();
    app.add_flag("--with-services", o.services, "let kxend start kxenstored/kxen-backend (if built beside it)");
    app.add_option("--kernel", o.kernel)->capture_default_str();
    app.add_option("--config", o.config)->capture_default_str();
    app.add_option("--max-seconds", o.kx.max_seconds, "stop creating after this long")->capture_default_str();
    app.add_option("--min-avail-mib", o.kx.min_avail_mib, "stop creating below this MemAvailable")
        ->capture_default_str();
    app.add_flag("--keep", o.keep, "leave the kxen domains alive (with --socket)");
    app.add_flag("--skip-kxen", o.skip_kxen, "bare KVM only");
    app.add_flag("--skip-bare", o.skip_bare, "kxen only");
    CLI11_PARSE(app, argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    o.kx.target = o.target;
    o.kx.every = o.every;
    o.kx.destroy = !o.keep;

    if (auto why = kvm_unavailable_reason(); !why.empty()) {
        fmt::print("SKIPPED: {}\n", why);
        return 0;
    }
    rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    fmt::print("host: {}; open files per process at most {}; pid_max {}\n", host_description(), nofile.rlim_max,
               first_line_of("cat /proc/sys/kernel/pid_max"));
    auto const t0 = Clock::now();
    Curve kxen_curve, bare_curve;
    kxen_curve.what = "kxen (libkxl)";
    if (!o.skip_kxen)
        if (int rc = run_kxen(o, kxen_curve); rc) return rc;
    if (!o.skip_bare) {
        fmt::print("\nbare KVM: creating up to {} VMs (VM + vCPU + 2 MiB memslot) in a child process\n", o.target);
        double teardown = 0;
        bare_curve = run_bare_kvm({o.target, o.every, 2ull << 20}, teardown);
        print_curve(bare_curve);
        if (!bare_curve.points.empty()) {
            fmt::print("\n  host memory, {} bare VMs (baseline = the child before the first VM):\n", bare_curve.reached);
            print_delta(bare_curve.base, bare_curve.points.back().snap, bare_curve.reached, "child");
        }
        fmt::print("\n  child exit (closes all {} VMs): {:.2f} s\n", bare_curve.reached, teardown);
    }
    bare_curve.what = "bare KVM";
    print_milestones(kxen_curve, bare_curve);
    if (kxen_curve.reached && bare_curve.reached) {
        auto k = per_vm(kxen_curve.base, kxen_curve.points.back().snap, kxen_curve.reached);
        auto b = per_vm(bare_curve.base, bare_curve.points.back().snap, bare_curve.reached);
        fmt::print("\nper VM at the end (KiB): MemAvailable drop kxen {:.1f} / bare {:.1f} = {:.2f}x; "
                   "kernel kxen {:.1f} / bare {:.1f}\n", k.avail, b.avail, b.avail > 0 ? k.avail / b.avail : 0.0,
                   k.kernel, b.kernel);
    }
    fmt::print("\nload average at the end: {}\n", first_line_of("cat /proc/loadavg"));
    fmt::print("\ntotal benchmark time {:.1f} s\n", ms_since(t0) / 1000);
    return 0;
}
