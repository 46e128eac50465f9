#include "host_memory.hpp"
#include <fmt/format.h>
#include "common/proc.hpp"

namespace kxen::bench {
namespace {

// The meminfo fields a VM can move. SecPageTables is KVM's EPT/NPT/shadow tables (Linux 6.0+).
constexpr char const* mem_fields[] = {"MemAvailable", "MemFree",   "Shmem",      "Slab",
                                      "SUnreclaim",   "KernelStack", "PageTables", "SecPageTables",
                                      "VmallocUsed",  "Percpu"};
constexpr char const* proc_fields[] = {"Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem", "Threads"};

long get(std::map<std::string, long> const& m, std::string const& k) {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
}

long kernel_kib(Snapshot const& s) {
    return get(s.mem, "Slab") + get(s.mem, "KernelStack") + get(s.mem, "PageTables") + get(s.mem, "SecPageTables");
}

} // namespace

Snapshot snapshot(pid_t pid) {
    Snapshot s;
    s.mem = read_kv("/proc/meminfo");
    auto dir = "/proc/" + std::to_string(pid);
    s.proc = read_kv(dir + "/smaps_rollup");
    s.proc["Threads"] = get(read_kv(dir + "/status"), "Threads");
    s.fds = count_fds(pid);
    return s;
}

PerVm per_vm(Snapshot const& base, Snapshot const& now, long n) {
    if (n <= 0) return {};
    auto d = static_cast<double>(n);
    return {static_cast<double>(get(base.mem, "MemAvailable") - get(now.mem, "MemAvailable")) / d,
            static_cast<double>(kernel_kib(now) - kernel_kib(base)) / d,
            static_cast<double>(get(now.proc, "Pss") - get(base.proc, "Pss")) / d};
}

void print_delta(Snapshot const& base, Snapshot const& now, long n, std::string const& who) {
    fmt::print("  {:<24} {:>12} {:>12} {:>12} {:>12}\n", "field", "before", "after", "delta", "per VM");
    auto row = [&](std::string const& name, long b, long a, char const* unit) {
        fmt::print("  {:<24} {:>9} {:<2} {:>9} {:<2} {:>9} {:<2} {:>9.1f} {}\n", name, b, unit, a, unit, a - b, unit,
                   n > 0 ? static_cast<double>(a - b) / static_cast<double>(n) : 0.0, unit);
    };
    for (auto f : mem_fields) row(f, get(base.mem, f), get(now.mem, f), "kB");
    row("kernel (Slab+KStack+PT+SecPT)", kernel_kib(base), kernel_kib(now), "kB");
    for (auto f : proc_fields) row(who + " " + f, get(base.proc, f), get(now.proc, f), f == std::string("Threads") ? "" : "kB");
    row(who + " fds", base.fds, now.fds, "");
}

} // namespace kxen::bench
