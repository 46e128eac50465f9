#include "density_kxen.hpp"
#include <signal.h>
#include <unistd.h>
#include <fmt/format.h>
#include <thread>
#include <xen/domctl.h>
#include "common/guest.hpp"
#include "common/proc.hpp"
#include "toolstack/kxl/domain_create.hpp"

namespace kxen::bench {
namespace {

constexpr char const* pass_line = "KXEN-TEST hello PASS";

long mem_available_mib() {
    auto m = read_kv("/proc/meminfo");
    return m["MemAvailable"] / 1024;
}

// Waits until every domain in `ids` is blocked or shut down; returns false on timeout.
bool settle(privcmd::Client& c, std::vector<std::uint16_t> const& ids, KxenResult& r, double timeout_s) {
    auto const t0 = Clock::now();
    std::vector<bool> mine(DOMID_FIRST_RESERVED, false);
    for (auto id : ids) mine[id] = true;
    while (true) {
        long blocked = 0, down = 0;
        if (auto all = c.domain_list())
            for (auto const& d : *all) {
                if (d.domain >= mine.size() || !mine[d.domain]) continue;
                if (d.flags & XEN_DOMINF_shutdown) ++down;
                else if (d.flags & XEN_DOMINF_blocked) ++blocked;
            }
        r.blocked = blocked;
        r.shut_down = down;
        r.settle_s = ms_since(t0) / 1000;
        if (blocked + down >= static_cast<long>(ids.size())) return true;
        if (r.settle_s > timeout_s) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

} // namespace

KxenResult run_kxen_density(privcmd::Client& c, pid_t kxend, toolstack::DomainConfig cfg, KxenOptions const& o) {
    KxenResult r;
    Curve& cv = r.curve;
    cv.what = "kxen (libkxl)";
    cv.base = snapshot(kxend);
    std::vector<std::uint16_t> ids;
    ids.reserve(static_cast<std::size_t>(o.target));
    auto const t0 = Clock::now();
    Clock::time_point last_start{};
    for (long i = 1; i <= o.target; ++i) {
        if (i % 100 == 0) {
            if (long avail = mem_available_mib(); avail < o.min_avail_mib) {
                cv.stop = fmt::format("MemAvailable {} MiB fell below --min-avail-mib {}", avail, o.min_avail_mib);
                break;
            }
            if (ms_since(t0) / 1000 > o.max_seconds) {
                cv.stop = fmt::format("time budget of {} s used up", o.max_seconds);
                break;
            }
        }
        cfg.name = fmt::format("dens{}-{}", ::getpid(), i);
        auto const ts = Clock::now();
        auto domid = kxl::create_domain(c, cfg, false);
        double const lat = ms_since(ts);
        if (!domid) {
            cv.stop = fmt::format("domain {}: {}", i, domid.error());
            if (::kill(kxend, 0) != 0) cv.stop += " (kxend is gone)";
            break;
        }
        ids.push_back(*domid);
        last_start = ts;
        cv.lat.push_back(lat);
        if (is_checkpoint(i, o.every)) {
            Point p;
            p.n = i;
            if (wait_console(c, *domid, pass_line, std::chrono::seconds(60))) p.boot_ms = ms_since(ts);
            p.elapsed_s = ms_since(t0) / 1000;
            p.snap = snapshot(kxend);
            cv.add_point(std::move(p));
        }
    }
    cv.reached = static_cast<long>(ids.size());
    cv.total_s = ms_since(t0) / 1000;
    if (cv.stop.empty()) cv.stop = "target reached";
    if (ids.empty()) return r;

    // The last domain: its boot time, and a final point if the loop did not end on one.
    if (cv.points.empty() || cv.points.back().n != cv.reached) {
        Point p;
        p.n = cv.reached;
        if (wait_console(c, ids.back(), pass_line, std::chrono::seconds(60))) p.boot_ms = ms_since(last_start);
        p.elapsed_s = ms_since(t0) / 1000;
        p.snap = snapshot(kxend);
        cv.add_point(std::move(p));
    }
    if (!settle(c, ids, r, 600)) fmt::print("warning: not every domain was blocked after {:.0f} s\n", r.settle_s);
    r.settled = snapshot(kxend);
    for (auto id : ids) {
        std::uint64_t pos = 0;
        auto s = c.console_read(id, pos, 0);
        if (s && s->find(pass_line) != std::string::npos) ++r.passed;
    }
    if (o.destroy) {
        auto const td = Clock::now();
        for (auto id : ids) (void)c.destroy_domain(id);
        r.destroy_s = ms_since(td) / 1000;
        // The kernel frees part of a VM after its last fd is closed (deferred work), so wait
        // until MemAvailable is back within 5% of what the domains took, or 30 s.
        auto const peak = r.settled.mem["MemAvailable"];
        auto const base = cv.base.mem["MemAvailable"];
        auto const tr = Clock::now();
        do {
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            r.destroyed = snapshot(kxend);
            r.reclaim_s = ms_since(tr) / 1000;
        } while (base - r.destroyed.mem["MemAvailable"] > (base - peak) / 20 && r.reclaim_s < 30);
    }
    return r;
}

} // namespace kxen::bench
