#include <fmt/format.h>
#include "common/stats.hpp"
#include <algorithm>
#include <numeric>

namespace kxen::bench {

double percentile(std::vector<double> const& sorted, double p) {
    if (sorted.empty()) return 0;
    double const rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
    auto const lo = static_cast<std::size_t>(rank);
    auto const hi = std::min(lo + 1, sorted.size() - 1);
    double const frac = rank - static_cast<double>(lo);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

Summary summarize(std::vector<double> v) {
    Summary s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    s.n = v.size();
    s.min = v.front();
    s.max = v.back();
    s.p10 = percentile(v, 10);
    s.median = percentile(v, 50);
    s.p90 = percentile(v, 90);
    s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    return s;
}

std::string si(double v) {
    if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
    if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
    if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
    return fmt::format("{:.0f}", v);
}

} // namespace kxen::bench
