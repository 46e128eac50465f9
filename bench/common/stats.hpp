// Order statistics for a set of timings: the median and the 10th/90th percentiles.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace kxen::bench {

struct Summary {
    std::size_t n = 0;
    double min = 0, p10 = 0, median = 0, p90 = 0, max = 0, mean = 0;
};

// Percentiles by linear interpolation between the closest ranks (numpy's default).
Summary summarize(std::vector<double> v);
double percentile(std::vector<double> const& sorted, double p);

// A rate for a table: 1.25G, 2.58M, 186.3k, 950.
std::string si(double v);

} // namespace kxen::bench
