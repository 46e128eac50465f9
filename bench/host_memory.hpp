// What N VMs cost the host: a snapshot of /proc/meminfo and of one process (smaps_rollup,
// status, fd count), and the per-VM difference between two snapshots.
#pragma once
#include <sys/types.h>
#include <map>
#include <string>

namespace kxen::bench {

struct Snapshot {
    std::map<std::string, long> mem;    // /proc/meminfo, KiB
    std::map<std::string, long> proc;   // smaps_rollup Rss/Pss*, status Threads, KiB or count
    long fds = 0;
};

Snapshot snapshot(pid_t pid);

// One line per field: baseline, now, delta, and delta/n in KiB.
void print_delta(Snapshot const& base, Snapshot const& now, long n, std::string const& who);

// The compact columns for a curve row: MemAvailable drop/VM, kernel (Slab+KernelStack+
// PageTables+SecPageTables) growth/VM, process PSS growth/VM, all in KiB.
struct PerVm {
    double avail = 0, kernel = 0, pss = 0;
};
PerVm per_vm(Snapshot const& base, Snapshot const& now, long n);

} // namespace kxen::bench
