#include "curve.hpp"
#include <fmt/format.h>
#include "common/stats.hpp"

namespace kxen::bench {

void Curve::add_point(Point p) {
    std::size_t from = points.empty() ? 0 : static_cast<std::size_t>(points.back().n);
    std::size_t to = std::min(lat.size(), static_cast<std::size_t>(p.n));
    if (from < to) {
        auto s = summarize(std::vector<double>(lat.begin() + static_cast<long>(from), lat.begin() + static_cast<long>(to)));
        p.win_median_ms = s.median;
        p.win_p90_ms = s.p90;
    }
    if (p.n >= 1 && static_cast<std::size_t>(p.n) <= lat.size()) p.lat_ms = lat[static_cast<std::size_t>(p.n) - 1];
    points.push_back(std::move(p));
}

void print_curve(Curve const& c) {
    fmt::print("\n{}: reached {} in {:.1f} s; stopped: {}\n", c.what, c.reached, c.total_s, c.stop);
    fmt::print("  {:>6} {:>9} {:>10} {:>9} {:>9} {:>9} {:>11} {:>11} {:>10} {:>6} {:>7}\n", "VMs", "t(s)", "this ms",
               "win med", "win p90", "boot ms", "avail KiB/VM", "kern KiB/VM", "PSS KiB/VM", "fds", "threads");
    for (auto const& p : c.points) {
        auto pv = per_vm(c.base, p.snap, p.n);
        auto th = p.snap.proc.count("Threads") ? p.snap.proc.at("Threads") : 0;
        fmt::print("  {:>6} {:>9.1f} {:>10.3f} {:>9.3f} {:>9.3f} {:>9} {:>11.1f} {:>11.1f} {:>10.1f} {:>6} {:>7}\n", p.n,
                   p.elapsed_s, p.lat_ms, p.win_median_ms, p.win_p90_ms,
                   p.boot_ms < 0 ? std::string("-") : fmt::format("{:.1f}", p.boot_ms), pv.avail, pv.kernel, pv.pss,
                   p.snap.fds, th);
    }
}

void print_milestones(Curve const& a, Curve const& b) {
    auto at = [](Curve const& c, long n) -> std::string {
        if (n < 1 || static_cast<std::size_t>(n) > c.lat.size()) return "-";
        return fmt::format("{:.3f}", c.lat[static_cast<std::size_t>(n) - 1]);
    };
    fmt::print("\ncreation time of one VM, ms (the VM itself; see win med for the trend):\n");
    fmt::print("  {:<22} {:>10} {:>10} {:>10} {:>18}\n", "", "1st", "100th", "1000th", "last (n)");
    for (auto const* c : {&a, &b}) {
        if (c->lat.empty()) continue;
        auto s = summarize(c->lat);
        fmt::print("  {:<22} {:>10} {:>10} {:>10} {:>10} ({:>5})   all: median {:.3f}, p10 {:.3f}, p90 {:.3f}\n",
                   c->what, at(*c, 1), at(*c, 100), at(*c, 1000), at(*c, static_cast<long>(c->lat.size())),
                   c->lat.size(), s.median, s.p10, s.p90);
    }
}

} // namespace kxen::bench
