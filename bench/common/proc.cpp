#include "common/proc.hpp"
#include <dirent.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <thread>
#include <fmt/format.h>
#include <sstream>

namespace kxen::bench {

int run_wait(std::vector<std::string> const& argv, std::vector<std::string> const& env,
             std::string const& out_path) {
    std::vector<char*> args;
    for (auto const& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int in = ::open("/dev/null", O_RDONLY);
        int out = out_path.empty() ? ::open("/dev/null", O_WRONLY)
                                   : ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(in, 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        for (auto const& e : env) ::putenv(const_cast<char*>(e.c_str()));
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return st;
}

std::map<std::string, long> read_kv(std::string const& path) {
    std::map<std::string, long> kv;
    std::ifstream f(path);
    std::string line;
    while (std::getline(f, line)) {
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::istringstream rest(line.substr(colon + 1));
        long v = 0;
        if (!(rest >> v)) continue;
        kv[line.substr(0, colon)] = v;
    }
    return kv;
}

double cpu_seconds(pid_t pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream rest(stat.substr(paren + 2));
    std::string field;
    double ticks = 0;
    // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
    for (int i = 3; i <= 15 && rest >> field; ++i)
        if (i >= 14) ticks += std::stod(field);
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

long count_fds(pid_t pid) {
    auto path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(path.c_str());
    if (!d) return -1;
    long n = 0;
    while (auto* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n - (pid == ::getpid() ? 1 : 0);   // our own listing holds one descriptor
}

std::string find_program(std::string const& name) {
    if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
    char const* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
        auto p = (dir.empty() ? "." : dir) + "/" + name;
        if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return {};
}

std::string host_description() {
    utsname u{};
    ::uname(&u);
    auto mem = read_kv("/proc/meminfo");
    // The load average says whether something else shared the machine with the benchmark.
    return fmt::format("{} {} {}, {} CPUs, {:.1f} GiB RAM; load average {}", u.sysname, u.release, u.machine,
                       std::thread::hardware_concurrency(), static_cast<double>(mem["MemTotal"]) / (1 << 20),
                       first_line_of("cat /proc/loadavg"));
}

std::string first_line_of(std::string const& command) {
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p) return {};
    char buf[256] = {};
    std::string line = std::fgets(buf, sizeof buf, p) ? buf : "";
    while (std::fgets(buf, sizeof buf, p)) {}
    ::pclose(p);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    return line;
}

std::string kvm_unavailable_reason() {
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) return std::string("/dev/kvm is not usable here (") + std::strerror(errno) + ")";
    ::close(fd);
    return {};
}

} // namespace kxen::bench
