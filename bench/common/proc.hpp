// Host-side measurements and process plumbing the benchmarks share: run a program and wait
// for it, and read what /proc says about memory, descriptors and threads.
#pragma once
#include <sys/types.h>
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace kxen::bench {

using Clock = std::chrono::steady_clock;
inline double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// fork + exec `argv` with stdin/stdout/stderr on /dev/null (or stdout+stderr appended to
// `out_path`), `env` added to the environment; returns the waitpid status, or -1.
int run_wait(std::vector<std::string> const& argv, std::vector<std::string> const& env = {},
             std::string const& out_path = {});

// "Key:   123 kB" files (/proc/meminfo, /proc/PID/smaps_rollup, /proc/PID/status): values in
// KiB for lines with a kB unit, the bare number otherwise. Lines that are not "Key: number"
// (smaps_rollup's header) are skipped.
std::map<std::string, long> read_kv(std::string const& path);

// CPU time (user + system, all its threads, live and exited) a process has used, in seconds;
// resolution one clock tick (10 ms).
double cpu_seconds(pid_t pid);

// Open descriptors of a process (entries of /proc/PID/fd); -1 if unreadable.
long count_fds(pid_t pid);

// A program found on $PATH (or the path itself if it contains a '/'); empty if none.
std::string find_program(std::string const& name);

// "Linux 6.18.44 x86_64, 2 CPUs, 23.5 GiB RAM" for the head of a report.
std::string host_description();

// The first line `argv... 2>&1` prints (e.g. `qemu-system-x86_64 --version`), or empty.
std::string first_line_of(std::string const& command);

// Why KVM benchmarks cannot run here, or empty if they can.
std::string kvm_unavailable_reason();

} // namespace kxen::bench
