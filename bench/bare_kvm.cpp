#include "bare_kvm.hpp"
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include "common/proc.hpp"

namespace kxen::bench {
namespace {

struct Msg {
    long n = 0;
    double lat_ms = 0;
    int checkpoint = 0;   // the child waits for an ack byte after sending this
    int done = 0;         // last message: n VMs exist; err/what say why it stopped
    int err = 0;
    char what[48] = {};
};

bool write_all(int fd, void const* p, std::size_t len) {
    auto const* b = static_cast<char const*>(p);
    while (len) {
        auto n = ::write(fd, b, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        b += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

bool read_all(int fd, void* p, std::size_t len) {
    auto* b = static_cast<char*>(p);
    while (len) {
        auto n = ::read(fd, b, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        b += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

[[noreturn]] void child(BareOptions const& o, int out, int in) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    char go;
    if (!read_all(in, &go, 1)) ::_exit(1);
    Msg m;
    auto finish = [&](long n, int err, char const* what) {
        m = {};
        m.n = n;
        m.done = 1;
        m.err = err;
        std::snprintf(m.what, sizeof m.what, "%s", what);
        write_all(out, &m, sizeof m);
        read_all(in, &go, 1);
        ::_exit(0);   // the kernel tears down every VM here; the parent times it
    };
    int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) finish(0, errno, "open /dev/kvm");
    int ram = ::memfd_create("bare-kvm-ram", MFD_CLOEXEC);
    auto const total = static_cast<std::uint64_t>(o.target) * o.slot_bytes;
    if (ram < 0 || ::ftruncate(ram, static_cast<off_t>(total)) < 0) finish(0, errno, "memfd");
    // SAFETY: a sparse shared mapping; KVM only records the address, nothing touches it.
    auto* base = static_cast<std::byte*>(::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                                                MAP_SHARED | MAP_NORESERVE, ram, 0));
    if (base == MAP_FAILED) finish(0, errno, "mmap");
    for (long i = 1; i <= o.target; ++i) {
        auto t0 = Clock::now();
        int vm = ::ioctl(kvm, KVM_CREATE_VM, 0);
        if (vm < 0) finish(i - 1, errno, "KVM_CREATE_VM");
        int vcpu = ::ioctl(vm, KVM_CREATE_VCPU, 0);
        if (vcpu < 0) finish(i - 1, errno, "KVM_CREATE_VCPU");
        kvm_userspace_memory_region r{};
        r.slot = 0;
        r.guest_phys_addr = 0;
        r.memory_size = o.slot_bytes;
        r.userspace_addr = reinterpret_cast<std::uint64_t>(base + static_cast<std::uint64_t>(i - 1) * o.slot_bytes);
        if (::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) finish(i - 1, errno, "KVM_SET_USER_MEMORY_REGION");
        m = {};
        m.n = i;
        m.lat_ms = ms_since(t0);
        m.checkpoint = is_checkpoint(i, o.every) ? 1 : 0;
        if (!write_all(out, &m, sizeof m)) ::_exit(1);
        if (m.checkpoint && !read_all(in, &go, 1)) ::_exit(1);
    }
    finish(o.target, 0, "target reached");
    ::_exit(0);
}

} // namespace

Curve run_bare_kvm(BareOptions const& o, double& teardown_s) {
    Curve c;
    c.what = "bare KVM";
    teardown_s = 0;
    int up[2], down[2];
    if (::pipe2(up, O_CLOEXEC) < 0 || ::pipe2(down, O_CLOEXEC) < 0) {
        c.stop = std::string("pipe: ") + std::strerror(errno);
        return c;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
        c.stop = std::string("fork: ") + std::strerror(errno);
        return c;
    }
    if (pid == 0) {
        ::close(up[0]);
        ::close(down[1]);
        child(o, up[1], down[0]);
    }
    ::close(up[1]);
    ::close(down[0]);
    c.base = snapshot(pid);
    char ack = 1;
    auto const t0 = Clock::now();
    write_all(down[1], &ack, 1);
    Msg m;
    while (read_all(up[0], &m, sizeof m)) {
        if (m.done) {
            c.reached = m.n;
            c.total_s = ms_since(t0) / 1000;
            c.stop = m.err ? fmt::format("{}: {}", m.what, std::strerror(m.err)) : std::string(m.what);
            if (c.points.empty() || c.points.back().n != m.n) {
                Point p;
                p.n = m.n;
                p.elapsed_s = c.total_s;
                p.snap = snapshot(pid);
                c.add_point(std::move(p));
            }
            break;
        }
        c.lat.push_back(m.lat_ms);
        if (m.checkpoint) {
            Point p;
            p.n = m.n;
            p.elapsed_s = ms_since(t0) / 1000;
            p.snap = snapshot(pid);
            c.add_point(std::move(p));
            write_all(down[1], &ack, 1);
        }
    }
    auto const td = Clock::now();
    write_all(down[1], &ack, 1);
    int st;
    ::waitpid(pid, &st, 0);
    teardown_s = ms_since(td) / 1000;
    ::close(up[0]);
    ::close(down[1]);
    return c;
}

} // namespace kxen::bench
