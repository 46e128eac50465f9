// kxen-bench-grant: what a dom0 backend does with a guest's grants, per second, with 1 and 2
// threads (each its own privcmd connection and its own grants), against memcpy of the same
// bytes. The guest is minios test=grant-pages: it grants pages of its RAM to dom0 and idles.
//
//   copy-1    GNTTABOP_copy of one 4 KiB page from a grant into our memory, one per hypercall
//   copy-32   the same, 32 pages (segments) per hypercall; counted in pages
//   map       gnttab_map (read-write), read one byte of the page, gnttab_unmap
//   memcpy    4 KiB from one buffer to another, cycling through as many pages as the grants
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cstdio>
#include <cstring>
#include <thread>
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include "common/guest.hpp"
#include "common/kxend_host.hpp"
#include "common/proc.hpp"
#include "common/stats.hpp"

using namespace kxen;
using namespace kxen::bench;

namespace {

constexpr std::size_t page = 4096;
constexpr unsigned batch = 32;

struct Options {
    std::string kxend = KXEN_BIN_DIR "/kxend";
    unsigned pages = 256;   // granted by the guest, split between the threads
    double seconds = 1.0;
    int rounds = 5;
    std::vector<int> threads{1, 2};
    std::vector<std::string> ops{"copy-1", "copy-32", "map", "memcpy"};
};

struct Sample {
    double per_s = 0;        // pages per second, all threads
    double cpu_us = 0;       // CPU time per page, this process + kxend
};

struct Guest {
    std::uint16_t domid = 0;
    std::uint32_t gref = 0;
    unsigned count = 0;
};

// One measurement: `threads` workers doing `op` for `seconds`; pages per second (all threads).
std::expected<Sample, std::string> run_case(std::string const& socket, pid_t kxend, Guest const& g,
                                            std::string const& op, int threads, double seconds) {
    unsigned const share = g.count / static_cast<unsigned>(threads);
    std::vector<privcmd::Client> conns;
    if (op != "memcpy")
        for (int t = 0; t < threads; ++t) {
            auto c = privcmd::Client::connect(socket);
            if (!c) return std::unexpected("connect: " + c.error().message());
            conns.push_back(std::move(*c));
        }
    std::atomic<bool> stop{false};
    std::atomic<long> total{0};
    std::vector<std::string> errors(static_cast<std::size_t>(threads));
    std::barrier start(threads + 1);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            auto& err = errors[static_cast<std::size_t>(t)];
            std::uint32_t const first = g.gref + static_cast<unsigned>(t) * share;
            std::vector<std::uint8_t> dst(batch * page), src;
            if (op == "memcpy") src.assign(share * page, static_cast<std::uint8_t>(t));
            std::vector<std::uint32_t> refs(batch);
            unsigned next = 0;   // which of our pages comes next
            // One unit of work; returns the pages it moved, 0 on error.
            auto once = [&]() -> long {
                if (op == "memcpy") {
                    std::memcpy(dst.data(), src.data() + next * page, page);
                    next = (next + 1) % share;
                    // Keep the copy: the compiler must not drop it.
                    asm volatile("" : : "r"(dst.data()) : "memory");
                    return 1;
                }
                auto& c = conns[static_cast<std::size_t>(t)];
                if (op == "copy-1") {
                    std::uint32_t ref = first + next;
                    next = (next + 1) % share;
                    auto st = c.grant_copy_from(g.domid, {&ref, 1}, page, dst.data());
                    if (st != GNTST_okay) err = fmt::format("GNTTABOP_copy of ref {}: status {}", ref, st);
                    return st == GNTST_okay;
                }
                if (op == "copy-32") {
                    for (unsigned i = 0; i < batch; ++i) refs[i] = first + (next + i) % share;
                    next = (next + batch) % share;
                    auto st = c.grant_copy_from(g.domid, refs, page, dst.data());
                    if (st != GNTST_okay) err = fmt::format("GNTTABOP_copy x{}: status {}", batch, st);
                    return st == GNTST_okay ? batch : 0;
                }
                std::uint32_t ref = first + next;
                next = (next + 1) % share;
                auto m = c.gnttab_map(g.domid, ref, false);
                if (!m) {
                    err = fmt::format("gnttab_map of ref {}: status {}", ref, m.error());
                    return 0;
                }
                // The guest filled page i with the byte i & 0xff.
                auto const want = static_cast<std::uint8_t>((ref - g.gref) & 0xff);
                auto const got = *reinterpret_cast<volatile std::uint8_t*>(m->page.data());
                if (got != want) err = fmt::format("mapped ref {}: byte {:#x}, want {:#x}", ref, got, want);
                if (auto u = c.gnttab_unmap(m->handle); !u) err = "gnttab_unmap: " + privcmd::xen_strerror(u.error());
                return err.empty();
            };
            bool ok = true;
            for (int w = 0; ok && w < 20; ++w) ok = once() > 0;
            // copy-1 checks its data once: the guest filled page i with i & 0xff.
            if (ok && op == "copy-1") {
                std::uint32_t ref = first;
                auto st = conns[static_cast<std::size_t>(t)].grant_copy_from(g.domid, {&ref, 1}, page, dst.data());
                auto const want = static_cast<std::uint8_t>((first - g.gref) & 0xff);
                if (st != GNTST_okay || dst[0] != want || dst[page - 1] != want) {
                    err = fmt::format("copy of ref {} has byte {:#x}, want {:#x}", ref, dst[0], want);
                    ok = false;
                }
            }
            start.arrive_and_wait();
            long n = 0;
            while (ok && !stop.load(std::memory_order_relaxed)) {
                long k = once();
                ok = k > 0;
                n += k;
            }
            total.fetch_add(n);
        });
    start.arrive_and_wait();
    auto const t0 = Clock::now();
    double const cpu0 = cpu_seconds(::getpid()) + cpu_seconds(kxend);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& w : workers) w.join();
    double const s = ms_since(t0) / 1000;
    double const cpu = cpu_seconds(::getpid()) + cpu_seconds(kxend) - cpu0;
    for (auto const& e : errors)
        if (!e.empty()) return std::unexpected(e);
    double const pages = static_cast<double>(total.load());
    return Sample{pages / s, pages > 0 ? cpu * 1e6 / pages : 0};
}

} // namespace

int main(int argc, char** argv) {
    Options o;
    CLI::App app{"grant copy and map/unmap from dom0, 1 and 2 threads, vs memcpy"};
    app.add_option("--kxend", o.kxend, "kxend binary")->capture_default_str();
    app.add_option("--pages", o.pages, "pages the guest grants (<= 504, one v1 frame)")->capture_default_str();
    app.add_option("--seconds", o.seconds, "length of one measurement")->capture_default_str();
    app.add_option("--rounds", o.rounds, "measurements per case (the median is reported)")->capture_default_str();
    app.add_option("--threads", o.threads, "thread counts")->delimiter(',');
    app.add_option("--ops", o.ops, "copy-1, copy-32, map, memcpy")->delimiter(',');
    CLI11_PARSE(app, argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);   // progress shows when the output goes to a file

    if (auto why = kvm_unavailable_reason(); !why.empty()) {
        fmt::print("SKIPPED: {}\n", why);
        return 0;
    }
    int const max_threads = *std::max_element(o.threads.begin(), o.threads.end());
    if (o.pages < batch * static_cast<unsigned>(max_threads) || o.pages > 504) {
        fmt::print(stderr, "kxen-bench-grant: --pages must be {}..504\n", batch * static_cast<unsigned>(max_threads));
        return 2;
    }
    auto host = KxendHost::start(o.kxend);
    if (!host) {
        fmt::print(stderr, "kxen-bench-grant: {}\n", host.error());
        return 1;
    }
    auto c = privcmd::Client::connect((*host)->socket());
    if (!c) {
        fmt::print(stderr, "kxen-bench-grant: connect: {}\n", c.error().message());
        return 1;
    }
    fmt::print("host: {}\n", host_description());

    Guest g;
    auto domid = start_minios(*c, fmt::format("grant-bench-{}", ::getpid()),
                              fmt::format("test=grant-pages count={}", o.pages));
    if (!domid) {
        fmt::print(stderr, "kxen-bench-grant: create: {}\n", domid.error());
        return 1;
    }
    g.domid = *domid;
    std::string why;
    auto line = console_after(*c, g.domid, "grant-pages: gref=", std::chrono::seconds(30), &why);
    unsigned gref = 0, count = 0;
    if (!line || std::sscanf(line->c_str(), "%u count=%u", &gref, &count) != 2 || count != o.pages) {
        fmt::print(stderr, "kxen-bench-grant: no grants from the guest: {}\n", line ? *line : why);
        return 1;
    }
    g.gref = gref;
    g.count = count;
    fmt::print("kxen-bench-grant: domain {} granted refs {}..{} ({} pages); {} x {} s per case (median)\n", g.domid,
               gref, gref + count - 1, count, o.rounds, o.seconds);

    // results[op][threads] = pages/s. Rounds go through all cases in turn, so that a change
    // in the load of the (shared) machine hits every case alike.
    std::map<std::string, std::map<int, std::vector<double>>> runs, cpus;
    std::map<std::string, std::map<int, double>> res, cpu;
    std::map<std::string, std::string> errs;
    for (int r = 0; r < o.rounds; ++r)
        for (auto const& op : o.ops)
            for (int t : o.threads) {
                if (errs.contains(op)) continue;
                auto x = run_case((*host)->socket(), (*host)->pid(), g, op, t, o.seconds);
                if (!x) {
                    errs[op] = x.error();
                    continue;
                }
                runs[op][t].push_back(x->per_s);
                cpus[op][t].push_back(x->cpu_us);
            }
    for (auto const& op : o.ops)
        for (int t : o.threads)
            if (!runs[op][t].empty()) {
                res[op][t] = summarize(runs[op][t]).median;
                cpu[op][t] = summarize(cpus[op][t]).median;
                fmt::print("  {:<8} {} thread(s) {:>10} pages/s, {:.2f} CPU us/page\n", op, t, si(res[op][t]),
                           cpu[op][t]);
            }
    (void)c->destroy_domain(g.domid);

    fmt::print("\nload average at the end: {}\n\n", first_line_of("cat /proc/loadavg"));
    fmt::print("{:<10}", "op");
    for (int t : o.threads) fmt::print(" {:>12}", fmt::format("{} thr /s", t));
    fmt::print(" {:>10} {:>12} {:>12}", "2thr/1thr", "us/page 1thr", "memcpy/op");
    for (int t : o.threads) fmt::print(" {:>14}", fmt::format("CPU us/pg {}thr", t));
    fmt::print("\n");
    double const mc = res.contains("memcpy") && res["memcpy"].contains(1) ? res["memcpy"][1] : 0;
    for (auto const& op : o.ops) {
        fmt::print("{:<10}", op);
        if (errs.contains(op)) {
            fmt::print(" FAILED: {}\n", errs[op]);
            continue;
        }
        auto& r = res[op];
        for (int t : o.threads) fmt::print(" {:>12}", r.contains(t) ? si(r[t]) : "-");
        fmt::print(" {:>10}", r.contains(1) && r.contains(2) ? fmt::format("{:.2f}", r[2] / r[1]) : "-");
        fmt::print(" {:>12}", r.contains(1) ? fmt::format("{:.2f}", 1e6 / r[1]) : "-");
        fmt::print(" {:>12}", r.contains(1) && mc > 0 ? fmt::format("{:.1f}", mc / r[1]) : "-");
        for (int t : o.threads) fmt::print(" {:>14}", cpu[op].contains(t) ? fmt::format("{:.2f}", cpu[op][t]) : "-");
        fmt::print("\n");
    }
    fmt::print("(pages/s over all threads; copy-32 counts each of the 32 segments; map = map + read a byte + unmap;\n"
               " memcpy/op = how many 4 KiB memcpy's one thread does in the time of one op;\n"
               " CPU us/pg = user + system time of this process and kxend per page: on a busy host, where a\n"
               " second thread finds no idle core, it still shows whether an op costs more when two run at once)\n");
    return errs.empty() ? 0 : 1;
}
