// The density benchmark's record of a creation loop: per-VM creation latency, and at each
// checkpoint (VM 1, 100, 1000, every `every`, the last) the host's memory and fd state.
#pragma once
#include <string>
#include <vector>
#include "host_memory.hpp"

namespace kxen::bench {

struct Point {
    long n = 0;                 // VMs alive at this point
    double lat_ms = 0;          // creation time of VM n itself
    double win_median_ms = 0;   // median creation time since the previous point
    double win_p90_ms = 0;
    double elapsed_s = 0;       // since the loop started
    double boot_ms = -1;        // kxen only: create_domain start to the guest's PASS line
    Snapshot snap;
};

struct Curve {
    std::string what;
    Snapshot base;              // before the first VM
    std::vector<Point> points;
    std::vector<double> lat;    // every VM's creation time, ms
    long reached = 0;
    std::string stop;           // why the loop ended ("target reached" or the failure)
    double total_s = 0;
    // Fills the window stats of the point that ends at lat.size().
    void add_point(Point p);
};

inline bool is_checkpoint(long n, long every) {
    return n == 1 || n == 100 || n == 1000 || (every > 0 && n % every == 0);
}

void print_curve(Curve const& c);
// Creation time of VM 1, 100, 1000 and the last one, side by side.
void print_milestones(Curve const& a, Curve const& b);

} // namespace kxen::bench
