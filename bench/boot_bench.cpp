// kxen-bench-boot: create-to-shutdown time of minios `test=hello` under kxen, against QEMU
// booting the same ELF in the same run.
//
//   kxl-cli   spawn `kxl create -e CFG ...`, then wait (domain_wait) until kxend reports the
//             domain shut down; process start, config parse, domain build and boot included.
//   libkxl    kxl::create_domain() in this process, then domain_wait until shutdown (the
//             config is parsed once, before timing).
//   qemu-pc   fork/exec `qemu-system-x86_64 -accel kvm -kernel minios.elf
//             -device isa-debug-exit,...` until it exits (SeaBIOS + the PVH option ROM).
//   qemu-microvm   the same on `-M microvm` (qboot firmware, no PCI): QEMU's fastest boot.
//
// Without /dev/kvm both sides run on their software CPUs: kxend on its software vCPU
// (`--accel auto` picks it), QEMU with `-accel tcg -cpu max`. The table names the
// accelerator of each row.
//
// The methods are interleaved run by run so that drift on the host affects all of them alike.
// A run counts only if the guest passed: poweroff for kxen, exit status 1 (isa-debug-exit
// code 0) for QEMU.
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <xen/sched.h>
#include "common/guest.hpp"
#include "common/kxend_host.hpp"
#include "common/proc.hpp"
#include "common/stats.hpp"
#include "toolstack/kxl/domain_create.hpp"

using namespace kxen;
using namespace kxen::bench;

namespace {

struct Options {
    int runs = 20;
    int warmup = 1;
    std::string socket;   // empty: start our own kxend
    std::string kxend = KXEN_BIN_DIR "/kxend";
    // A host as users run it: kxenstored and kxen-backend up, each domain introduced, its
    // console ring read as the guest writes it (minios flushes its console at poweroff).
    bool services = true;
    std::string kxl = KXEN_BIN_DIR "/kxl";
    std::string kernel = KXEN_GUEST;
    std::string config = KXEN_EXAMPLES "/minios.cfg";
    std::string qemu = "qemu-system-x86_64";
    std::string accel = "auto";   // kxend --accel
    std::string qemu_accel;       // empty: kvm if /dev/kvm works, else tcg
    int memory = 16;
    std::vector<std::string> methods{"kxl-cli", "libkxl", "qemu-pc", "qemu-microvm"};
};

// One timed run: milliseconds, or why it did not count.
using RunResult = std::expected<double, std::string>;

struct Bench {
    Options const& o;
    std::string socket;
    privcmd::Client& c;
    toolstack::DomainConfig cfg;   // for libkxl
    std::optional<xs::Handle> store;   // the host's xenstore, if it runs one
    int seq = 0;
    // Where the time went in the last kxen run: until kxl exited / create_domain returned.
    std::optional<double> phase;

    std::vector<std::string> overrides(std::string const& name) const {
        return {"name=\"" + name + "\"", "kernel=\"" + o.kernel + "\"", "memory=" + std::to_string(o.memory),
                "extra=\"test=hello\""};
    }

    RunResult check_poweroff(std::uint16_t domid, Clock::time_point t0) {
        auto why = wait_shutdown(c, domid, std::chrono::seconds(120));
        double ms = ms_since(t0);
        (void)c.destroy_domain(domid);
        if (!why) return std::unexpected(why.error());
        if (*why != SHUTDOWN_poweroff) return std::unexpected(fmt::format("shutdown reason {}", *why));
        return ms;
    }

    RunResult kxl_cli() {
        auto name = fmt::format("boot-cli-{}-{}", ::getpid(), seq++);
        std::vector<std::string> argv{o.kxl, "create", "-e", "-q", o.config};
        for (auto& s : overrides(name)) argv.push_back(s);
        auto t0 = Clock::now();
        int st = run_wait(argv, {"KXEN_SOCKET=" + socket});
        phase = ms_since(t0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return std::unexpected(fmt::format("kxl create: status {:#x}", st));
        auto domid = find_domain(c, name);   // kxl does not print the domid (nor does xl)
        if (!domid) return std::unexpected("kxl create succeeded but " + name + " is not listed");
        return check_poweroff(*domid, t0);
    }

    RunResult libkxl() {
        cfg.name = fmt::format("boot-lib-{}-{}", ::getpid(), seq++);
        auto t0 = Clock::now();
        auto domid = kxl::create_domain(c, cfg, false, store ? &*store : nullptr);
        phase = ms_since(t0);
        if (!domid) return std::unexpected("create_domain: " + domid.error());
        return check_poweroff(*domid, t0);
    }

    RunResult qemu(bool microvm) {
        std::vector<std::string> argv{o.qemu};
        if (microvm) argv.insert(argv.end(), {"-M", "microvm", "-nodefaults", "-serial", "stdio"});
        argv.insert(argv.end(), {"-accel", o.qemu_accel});
        if (o.qemu_accel == "tcg") argv.insert(argv.end(), {"-cpu", "max"});
        argv.insert(argv.end(), {"-m", std::to_string(o.memory), "-nographic", "-no-reboot",
                                 "-kernel", o.kernel, "-append", "test=hello", "-device",
                                 "isa-debug-exit,iobase=0x501,iosize=1"});
        auto t0 = Clock::now();
        int st = run_wait(argv);
        double ms = ms_since(t0);
        // isa-debug-exit: status = (code << 1) | 1, and minios writes 0 on poweroff.
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 1) return std::unexpected(fmt::format("qemu: wait status {:#x}", st));
        return ms;
    }

    RunResult run(std::string const& m) {
        phase.reset();
        if (m == "kxl-cli") return kxl_cli();
        if (m == "libkxl") return libkxl();
        if (m == "qemu-pc") return qemu(false);
        if (m == "qemu-microvm") return qemu(true);
        return std::unexpected("unknown method " + m);
    }
};

// "kxl-cli/soft", "qemu-microvm/tcg": which accelerator ran each method.
std::string label(Options const& o, std::string const& m) {
    auto colon = m.find(':');
    auto base = m.substr(0, colon);
    auto tail = colon == std::string::npos ? std::string() : m.substr(colon);
    return base + "/" + (base.starts_with("qemu") ? o.qemu_accel : o.accel) + tail;
}

void print_table(Options const& o, std::map<std::string, std::vector<double>> const& times,
                 std::map<std::string, std::vector<std::string>> const& errors) {
    fmt::print("\n{:<24} {:>4} {:>10} {:>10} {:>10} {:>10} {:>10} {:>6}\n", "method", "n", "median ms", "p10 ms",
               "p90 ms", "min ms", "max ms", "fail");
    std::map<std::string, Summary> sum;
    std::vector<std::string> rows;
    for (auto const& m : o.methods) {
        rows.push_back(m);
        if (m == "kxl-cli") rows.push_back("kxl-cli:exited");
        if (m == "libkxl") rows.push_back("libkxl:built");
    }
    for (auto const& m : rows) {
        auto it = times.find(m);
        if (it == times.end() && m.find(':') != std::string::npos) continue;
        auto s = summarize(it == times.end() ? std::vector<double>{} : it->second);
        sum[m] = s;
        auto e = errors.find(m);
        fmt::print("{:<24} {:>4} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f} {:>6}\n", label(o, m), s.n, s.median, s.p10,
                   s.p90, s.min, s.max, e == errors.end() ? 0 : e->second.size());
    }
    fmt::print("(kxl-cli:exited = until `kxl create` exited; libkxl:built = until create_domain() returned,\n"
               " i.e. the domain was built and unpaused; the rest is the guest's boot and shutdown.)\n");
    fmt::print("\nratio of medians (kxen / QEMU; below 1 means kxen is faster):\n");
    for (auto const& k : {"kxl-cli", "libkxl"})
        for (auto const& q : {"qemu-pc", "qemu-microvm"})
            if (sum.count(k) && sum.count(q) && sum[k].n && sum[q].n)
                fmt::print("  {:<13} / {:<17} {:>8.4f}   ({:.1f}x {})\n", label(o, k), label(o, q),
                           sum[k].median / sum[q].median,
                           sum[k].median < sum[q].median ? sum[q].median / sum[k].median
                                                         : sum[k].median / sum[q].median,
                           sum[k].median < sum[q].median ? "faster" : "slower");
    for (auto const& [m, es] : errors)
        for (auto const& e : es) fmt::print("  failed run, {}: {}\n", m, e);
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"kxen-bench-boot: minios test=hello, create to shutdown, kxen vs QEMU"};
    app.add_option("-n,--runs", o.runs, "timed runs per method")->capture_default_str();
    app.add_option("--warmup", o.warmup, "untimed runs per method first")->capture_default_str();
    app.add_option("--socket", o.socket, "use this running kxend instead of starting one");
    app.add_option("--kxend", o.kxend)->capture_default_str();
    app.add_flag("!--no-services", o.services, "kxend without kxenstored/kxen-backend (the guest then waits for a console backend that never comes)");
    app.add_option("--kxl", o.kxl)->capture_default_str();
    app.add_option("--kernel", o.kernel, "guest ELF (both kxen and QEMU boot it)")->capture_default_str();
    app.add_option("--config", o.config, "xl.cfg for kxl")->capture_default_str();
    app.add_option("--qemu", o.qemu)->capture_default_str();
    app.add_option("--accel", o.accel, "kxend --accel: auto (KVM if it works, else the software vCPU), kvm or soft")
        ->capture_default_str();
    app.add_option("--qemu-accel", o.qemu_accel, "kvm or tcg (default: kvm if /dev/kvm works, else tcg -cpu max)");
    app.add_option("--memory", o.memory, "guest MiB (kxen and QEMU)")->capture_default_str();
    app.add_option("--methods", o.methods, "subset of kxl-cli libkxl qemu-pc qemu-microvm")->delimiter(',');
    CLI11_PARSE(app, argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    auto const no_kvm = kvm_unavailable_reason();
    if (o.qemu_accel.empty()) o.qemu_accel = no_kvm.empty() ? "kvm" : "tcg";
    // kxend does not log its choice at warn level; `auto` resolves as kxend resolves it.
    if (o.accel == "auto") o.accel = no_kvm.empty() ? "kvm" : "soft";
    bool want_qemu = false;
    for (auto& m : o.methods) want_qemu |= m.starts_with("qemu");
    if (want_qemu) {
        auto q = find_program(o.qemu);
        if (q.empty()) {
            fmt::print("SKIPPED: {} not found (the QEMU baseline is part of this benchmark)\n", o.qemu);
            return 0;
        }
        o.qemu = q;
    }

    std::unique_ptr<KxendHost> host;
    std::string socket = o.socket;
    if (socket.empty()) {
        auto h = KxendHost::start(o.kxend, o.services, {"--accel", o.accel});
        if (!h) {
            fmt::print(stderr, "kxen-bench-boot: {}\n", h.error());
            return 1;
        }
        host = std::move(*h);
        socket = host->socket();
    }
    auto client = privcmd::Client::connect(socket);
    if (!client) {
        fmt::print(stderr, "kxen-bench-boot: connect {}: {}\n", socket, client.error().message());
        return 1;
    }
    Bench b{o, socket, *client, {}, std::nullopt, 0, std::nullopt};
    if (o.services) {
        // kxend starts the store just after it answers: wait for it as kxl users would.
        for (int i = 0; i < 100 && !b.store; ++i) {
            if (auto st = kxl::open_store(*client)) b.store.emplace(std::move(*st));
            else std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        if (!b.store) fmt::print(stderr, "kxen-bench-boot: warning: no xenstore; libkxl runs build domains without it\n");
    }
    auto cfg = domain_config(o.config, b.overrides("unused"));
    if (!cfg) {
        fmt::print(stderr, "kxen-bench-boot: {}\n", cfg.error());
        return 1;
    }
    b.cfg = *cfg;

    fmt::print("host: {}\n", host_description());
    if (want_qemu) fmt::print("peer: {}\n", first_line_of(o.qemu + " --version"));
    fmt::print("kxen-bench-boot: {} runs (+{} warm-up) of {} test=hello, {} MiB; kxend {} (--accel {}), QEMU -accel {}{}\n",
               o.runs, o.warmup, o.kernel, o.memory, host ? "started by the benchmark" : "at " + socket, o.accel,
               o.qemu_accel, o.qemu_accel == "tcg" ? " -cpu max" : "");
    std::map<std::string, std::vector<double>> times;
    std::map<std::string, std::vector<std::string>> errors;
    for (int i = -o.warmup; i < o.runs; ++i) {
        std::string line = i < 0 ? "warm-up" : fmt::format("run {:>3}", i + 1);
        for (auto const& m : o.methods) {
            auto r = b.run(m);
            if (i < 0) {
                line += r ? fmt::format("  {} {:.1f}", m, *r) : fmt::format("  {} FAIL", m);
                continue;
            }
            if (r) {
                times[m].push_back(*r);
                if (b.phase) times[m + (m == "kxl-cli" ? ":exited" : ":built")].push_back(*b.phase);
                line += fmt::format("  {} {:.1f}", m, *r);
            } else {
                errors[m].push_back(r.error());
                line += fmt::format("  {} FAIL", m);
            }
        }
        fmt::print("{}\n", line);
    }
    fmt::print("\nload average at the end: {}\n", first_line_of("cat /proc/loadavg"));
    print_table(o, times, errors);
    return errors.empty() ? 0 : 1;
}
