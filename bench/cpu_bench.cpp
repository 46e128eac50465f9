// kxen-bench-cpu: guest instruction rate, kxen's vCPU against QEMU TCG, on the same minios
// image running the same loops (guest/minios/tests/cpu_loop.cpp: add3, add8, copy,
// repmovsq, in ring 3 and ring 0).
//
// Each sample is one VM's life: minios `test=cpu-loop loop=L ring=R iters=N` prints the time
// its own clock measured around the loop, and the rate is instructions (or bytes) over that
// time. The clock differs by side (kxen: Xen pvclock; QEMU TCG: the TSC, which runs at the
// host's rate, at the rate the benchmark measures here and passes as `tsc_khz=`), so each
// sample's wall time from the host is kept as a cross-check: (wall - wall of the same side
// booting with iters=1) is the loop as the host saw it.
//
// Sides take turns case by case, in an order that rotates from run to run, so that drift on
// the host hits both alike. The iteration count is calibrated per side and case first (the
// warm-up) so that each loop runs about --seconds.
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <ranges>
#include <sstream>
#include <xen/sched.h>
#include "common/guest.hpp"
#include "common/kxend_host.hpp"
#include "common/proc.hpp"
#include "common/stats.hpp"

using namespace kxen;
using namespace kxen::bench;

namespace {

struct Options {
    int runs = 5;
    double seconds = 1.0;
    std::string kxend = KXEN_BIN_DIR "/kxend";
    std::string accel = "auto";
    std::string qemu = "qemu-system-x86_64";
    std::string qemu_accel;   // empty: kvm if /dev/kvm works, else tcg
    int memory = 16;
    int size = 65536;
    std::vector<std::string> loops{"add3", "add8", "copy", "repmovsq"};
    std::vector<int> rings{3, 0};
    std::vector<std::string> sides{"kxen", "qemu"};
};

// The TSC's rate, against CLOCK_MONOTONIC_RAW over 100 ms: what QEMU TCG's guest TSC runs at.
std::uint64_t host_tsc_khz() {
    timespec a{}, b{};
    clock_gettime(CLOCK_MONOTONIC_RAW, &a);
    std::uint64_t const t0 = __rdtsc();
    timespec const d{0, 100'000'000};
    nanosleep(&d, nullptr);
    clock_gettime(CLOCK_MONOTONIC_RAW, &b);
    std::uint64_t const t1 = __rdtsc();
    double const ns = double(b.tv_sec - a.tv_sec) * 1e9 + double(b.tv_nsec - a.tv_nsec);
    return static_cast<std::uint64_t>(double(t1 - t0) / ns * 1e6);
}

struct Sample {
    std::map<std::string, std::string> kv;   // the KXEN-CPU line
    double wall_ms = 0;
    [[nodiscard]] std::uint64_t u(std::string const& k) const {
        auto it = kv.find(k);
        return it == kv.end() ? 0 : std::stoull(it->second);
    }
};
using SampleResult = std::expected<Sample, std::string>;

std::map<std::string, std::string> parse_kv(std::string const& line) {
    std::map<std::string, std::string> kv;
    std::istringstream in(line);
    for (std::string w; in >> w;)
        if (auto eq = w.find('='); eq != std::string::npos) kv[w.substr(0, eq)] = w.substr(eq + 1);
    return kv;
}

struct Case {
    std::string loop;
    int ring;
    [[nodiscard]] std::string name() const { return fmt::format("{}/ring{}", loop, ring); }
    [[nodiscard]] bool bytes() const { return loop == "copy" || loop == "repmovsq"; }
};

struct Bench {
    Options const& o;
    privcmd::Client* c = nullptr;
    std::uint64_t tsc_khz = 0;
    std::string qemu_accel;
    int seq = 0;

    [[nodiscard]] std::string extra(Case const& k, std::uint64_t iters) const {
        return fmt::format("test=cpu-loop loop={} ring={} iters={} size={}", k.loop, k.ring, iters, o.size);
    }

    SampleResult kxen(Case const& k, std::uint64_t iters) {
        auto name = fmt::format("cpu-{}-{}", ::getpid(), seq++);
        auto t0 = Clock::now();
        auto domid = start_minios(*c, name, extra(k, iters), o.memory);
        if (!domid) return std::unexpected("create: " + domid.error());
        std::string why;
        auto line = console_after(*c, *domid, "KXEN-CPU ", std::chrono::seconds(600), &why);
        auto st = line ? wait_shutdown(*c, *domid, std::chrono::seconds(60)) : std::unexpected(why);
        double ms = ms_since(t0);
        (void)c->destroy_domain(*domid);
        if (!st) return std::unexpected(st.error());
        if (*st != SHUTDOWN_poweroff) return std::unexpected(fmt::format("shutdown reason {}", *st));
        return Sample{parse_kv(*line), ms};
    }

    SampleResult qemu(Case const& k, std::uint64_t iters) {
        auto out = fmt::format("/tmp/kxen-bench-cpu-{}-qemu.log", ::getpid());
        std::filesystem::remove(out);
        std::vector<std::string> argv{o.qemu, "-M", "microvm", "-nodefaults", "-serial", "stdio", "-accel",
                                      qemu_accel};
        if (qemu_accel == "tcg") argv.insert(argv.end(), {"-cpu", "max"});
        argv.insert(argv.end(), {"-m", std::to_string(o.memory), "-nographic", "-no-reboot", "-kernel", KXEN_GUEST,
                                 "-append", extra(k, iters) + fmt::format(" tsc_khz={}", tsc_khz), "-device",
                                 "isa-debug-exit,iobase=0x501,iosize=1"});
        auto t0 = Clock::now();
        int st = run_wait(argv, {}, out);
        double ms = ms_since(t0);
        std::ifstream f(out);
        std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        std::filesystem::remove(out);
        // isa-debug-exit: status = (code << 1) | 1, and minios writes 0 on poweroff.
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 1)
            return std::unexpected(fmt::format("qemu: wait status {:#x}; output: {}", st, text));
        auto at = text.find("KXEN-CPU ");
        if (at == std::string::npos) return std::unexpected("no KXEN-CPU line: " + text);
        auto nl = text.find('\n', at);
        return Sample{parse_kv(text.substr(at + 9, nl == std::string::npos ? nl : nl - at - 9)), ms};
    }

    SampleResult run(std::string const& side, Case const& k, std::uint64_t iters) {
        auto r = side == "kxen" ? kxen(k, iters) : qemu(k, iters);
        if (r && r->u("ns") == 0) return std::unexpected("guest measured 0 ns");
        return r;
    }
};

// Units per second as the guest measured them (instructions, or bytes for the copies).
double rate(Case const& k, Sample const& s) {
    return double(k.bytes() ? s.u("bytes") : s.u("insns")) / (double(s.u("ns")) / 1e9);
}

// What one run of `iters` does, in the unit of rate(): the same count the guest prints.
double units(Case const& k, std::uint64_t iters, int size) {
    if (k.bytes()) return double(iters) * size;
    return double(iters) * (k.loop == "add3" ? 3 : 10);
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"kxen-bench-cpu: guest instruction rate, kxen vs QEMU, minios test=cpu-loop"};
    app.add_option("-n,--runs", o.runs, "timed runs per side and case")->capture_default_str();
    app.add_option("--seconds", o.seconds, "calibrate each loop to about this long")->capture_default_str();
    app.add_option("--kxend", o.kxend)->capture_default_str();
    app.add_option("--accel", o.accel, "kxend --accel: auto, soft or kvm")->capture_default_str();
    app.add_option("--qemu", o.qemu)->capture_default_str();
    app.add_option("--qemu-accel", o.qemu_accel, "tcg or kvm (default: kvm if /dev/kvm works, else tcg)");
    app.add_option("--memory", o.memory, "guest MiB")->capture_default_str();
    app.add_option("--size", o.size, "bytes per pass of copy/repmovsq (8..65536)")->capture_default_str();
    app.add_option("--loops", o.loops, "subset of add3 add8 copy repmovsq")->delimiter(',');
    app.add_option("--rings", o.rings, "subset of 3 0")->delimiter(',');
    app.add_option("--sides", o.sides, "subset of kxen qemu")->delimiter(',');
    CLI11_PARSE(app, argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);

    bool const kvm = kvm_unavailable_reason().empty();
    Bench b{o, nullptr, 0, {}, 0};
    b.qemu_accel = !o.qemu_accel.empty() ? o.qemu_accel : kvm ? "kvm" : "tcg";
    bool const want_qemu = std::ranges::find(o.sides, "qemu") != o.sides.end();
    bool const want_kxen = std::ranges::find(o.sides, "kxen") != o.sides.end();
    if (want_qemu) {
        auto q = find_program(o.qemu);
        if (q.empty()) {
            fmt::print("SKIPPED: {} not found (the QEMU baseline is part of this benchmark)\n", o.qemu);
            return 0;
        }
        o.qemu = q;
    }
    b.tsc_khz = host_tsc_khz();

    std::unique_ptr<KxendHost> host;
    std::optional<privcmd::Client> client;
    if (want_kxen) {
        auto h = KxendHost::start(o.kxend, false, {"--accel", o.accel});
        if (!h) {
            fmt::print(stderr, "kxen-bench-cpu: {}\n", h.error());
            return 1;
        }
        host = std::move(*h);
        auto cl = privcmd::Client::connect(host->socket());
        if (!cl) {
            fmt::print(stderr, "kxen-bench-cpu: connect: {}\n", cl.error().message());
            return 1;
        }
        client.emplace(std::move(*cl));
        b.c = &*client;
    }
    // kxend does not log its choice at warn level; `auto` resolves as kxend resolves it.
    std::string const kxen_accel = o.accel != "auto" ? o.accel : kvm ? "kvm" : "soft";
    auto label = [&](std::string const& side) {
        return side == "kxen" ? "kxen-" + kxen_accel : "qemu-" + b.qemu_accel + "-microvm";
    };

    fmt::print("host: {}, TSC {:.3f} GHz\n", host_description(), double(b.tsc_khz) / 1e6);
    if (want_qemu) fmt::print("peer: {}\n", first_line_of(o.qemu + " --version"));
    fmt::print("kxen-bench-cpu: {} runs per side and case, loops of ~{} s, {} MiB, copy size {}; sides {}\n", o.runs,
               o.seconds, o.memory, o.size,
               fmt::join(o.sides | std::views::transform(label), ", "));
    fmt::print("load average at the start: {}\n", first_line_of("cat /proc/loadavg"));

    std::vector<Case> cases;
    for (int r : o.rings)
        for (auto const& l : o.loops) cases.push_back({l, r});

    // Calibration (also the warm-up): grow iters tenfold until the loop takes 50 ms, then
    // scale to --seconds. Boot: the same side with iters=1, for the wall-time cross-check.
    std::map<std::string, std::uint64_t> iters;   // side|case
    std::map<std::string, std::vector<double>> boot_ms;   // side
    int failures = 0;
    for (auto const& side : o.sides) {
        for (auto const& k : cases) {
            std::uint64_t n = k.bytes() ? 10 : 100'000;
            for (int tries = 0;;) {
                auto r = b.run(side, k, n);
                if (!r) {
                    // One failed run is reported and retried; a second ends the benchmark.
                    fmt::print(stderr, "kxen-bench-cpu: {} {} iters={}: {}\n", side, k.name(), n, r.error());
                    if (++tries == 2) return 1;
                    ++failures;
                    continue;
                }
                double ns = double(r->u("ns"));
                if (ns < 50e6) {
                    n *= 10;
                    continue;
                }
                n = std::max<std::uint64_t>(1, std::uint64_t(double(n) * o.seconds * 1e9 / ns));
                break;
            }
            iters[side + "|" + k.name()] = n;
            fmt::print("calibrated {:<22} {:<16} iters={}\n", label(side), k.name(), n);
        }
    }

    std::map<std::string, std::vector<double>> rates, wall_rates, walls;   // side|case
    std::map<std::string, std::vector<double>> tsc_per_ns;
    std::map<std::string, std::string> clocks;
    for (int i = 0; i < o.runs; ++i) {
        // Rotate which side goes first, so neither always runs on a host the other warmed.
        std::vector<std::string> order = o.sides;
        std::rotate(order.begin(), order.begin() + (i % order.size()), order.end());
        std::string line = fmt::format("run {:>2}", i + 1);
        for (auto const& side : order) {
            auto r = b.run(side, Case{"add3", 3}, 1);
            if (r) boot_ms[side].push_back(r->wall_ms);
        }
        for (auto const& k : cases) {
            for (auto const& side : order) {
                auto key = side + "|" + k.name();
                auto r = b.run(side, k, iters[key]);
                if (!r) {
                    ++failures;
                    fmt::print("  FAIL {} {}: {}\n", side, k.name(), r.error());
                    continue;
                }
                rates[key].push_back(rate(k, *r));
                walls[key].push_back(r->wall_ms);
                tsc_per_ns[key].push_back(double(r->u("tsc")) / double(r->u("ns")));
                clocks[side] = r->kv["clock"];
                line += fmt::format("  {} {} {}", side, k.name(), si(rate(k, *r)));
            }
        }
        fmt::print("{}\n", line);
    }
    fmt::print("load average at the end: {}\n", first_line_of("cat /proc/loadavg"));

    auto med = [](std::vector<double> const& v) { return summarize(v).median; };
    fmt::print("\nmedians of {} runs; rate by the guest's clock (kxen: {}, QEMU: {}); instructions/s, or bytes/s "
               "for copy and repmovsq\n",
               o.runs, clocks["kxen"], clocks["qemu"]);
    fmt::print("{:<16} {:>12} {:>12} {:>10} {:>12} {:>12} {:>10}\n", "case", "kxen", "qemu", "kxen/qemu",
               "kxen wall", "qemu wall", "kxen/qemu");
    for (auto const& k : cases) {
        std::map<std::string, double> g, w;
        for (auto const& side : {std::string("kxen"), std::string("qemu")}) {
            auto key = side + "|" + k.name();
            if (rates[key].empty()) continue;
            g[side] = med(rates[key]);
            // The host's view: the loop is the run's wall time minus the same side's boot.
            double loop_ms = med(walls[key]) - (boot_ms[side].empty() ? 0 : med(boot_ms[side]));
            w[side] = loop_ms > 0 ? units(k, iters[key], o.size) / (loop_ms / 1e3) : 0;
        }
        auto cell = [](std::map<std::string, double>& m, char const* s) {
            return m.count(s) ? si(m[s]) : std::string("-");
        };
        auto ratio = [](std::map<std::string, double>& m) {
            return m.count("kxen") && m.count("qemu") && m["qemu"] > 0 ? fmt::format("{:.4f}", m["kxen"] / m["qemu"])
                                                                        : std::string("-");
        };
        fmt::print("{:<16} {:>12} {:>12} {:>10} {:>12} {:>12} {:>10}\n", k.name(), cell(g, "kxen"), cell(g, "qemu"),
                   ratio(g), cell(w, "kxen"), cell(w, "qemu"), ratio(w));
    }
    for (auto const& side : o.sides)
        fmt::print("boot with iters=1, {}: median {:.1f} ms (subtracted from the wall times)\n", label(side),
                   boot_ms[side].empty() ? 0.0 : med(boot_ms[side]));
    for (auto const& [key, v] : tsc_per_ns)
        fmt::print("guest TSC ticks per guest ns, {}: {:.3f}\n", key, med(v));
    if (failures) fmt::print("{} failed runs (see above)\n", failures);
    return failures ? 1 : 0;
}
