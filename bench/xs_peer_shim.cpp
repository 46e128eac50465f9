// LD_PRELOAD library that lets Debian's oxenstored run on a host without Xen, as the peer of
// kxen-bench-xenstore. oxenstored opens the Xen devices at start even when it will only serve
// its Unix socket; here they are stand-ins that never fire:
//   - /dev/xen/privcmd (libxenctrl, opened at start and not used on the socket path):
//     /dev/null;
//   - /dev/xen/evtchn: the read end of a pipe nobody writes, so its fd is never readable;
//     the bind ioctls hand out port numbers, the others succeed;
//   - raising RLIMIT_NOFILE to fs.nr_open (EPERM above the hard limit without
//     CAP_SYS_RESOURCE): clamped to the hard limit;
//   - its socket, fixed at /var/run/xenstored/socket: moved to $KXEN_XS_SHIM_SOCKET.
// Nothing on the request path is touched: what is measured is oxenstored's own code.
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace {

constexpr char const* fixed_socket = "/var/run/xenstored/socket";
constexpr int max_fd = 65536;
std::atomic<bool> evtchn_fd[max_fd];
std::atomic<unsigned> next_port{1};

template <typename F> F real(char const* name) { return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name)); }

// -1: not ours; else the stand-in fd.
int inert_device_open(char const* path) {
    if (!path) return -1;
    if (!std::strcmp(path, "/dev/xen/privcmd") || !std::strcmp(path, "/proc/xen/privcmd"))
        return real<int (*)(char const*, int, ...)>("open")("/dev/null", O_RDWR | O_CLOEXEC);
    if (!std::strcmp(path, "/dev/xen/evtchn")) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0) return -1;
        if (p[0] < max_fd) evtchn_fd[p[0]] = true;
        // The write end stays open so that the read end never reports EOF.
        return p[0];
    }
    return -1;
}

char const* moved(char const* path) {
    char const* to = std::getenv("KXEN_XS_SHIM_SOCKET");
    return to && path && !std::strcmp(path, fixed_socket) ? to : path;
}

} // namespace

extern "C" {

int open(char const* path, int flags, ...) {
    if (int fd = inert_device_open(path); fd >= 0) return fd;
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    return real<int (*)(char const*, int, ...)>("open")(path, flags, mode);
}
int open64(char const* path, int flags, ...) {
    if (int fd = inert_device_open(path); fd >= 0) return fd;
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    return real<int (*)(char const*, int, ...)>("open64")(path, flags, mode);
}
// What _FORTIFY_SOURCE builds (libxenevtchn) call instead of open().
int __open_2(char const* path, int flags) {
    if (int fd = inert_device_open(path); fd >= 0) return fd;
    return real<int (*)(char const*, int)>("__open_2")(path, flags);
}
int __open64_2(char const* path, int flags) {
    if (int fd = inert_device_open(path); fd >= 0) return fd;
    return real<int (*)(char const*, int)>("__open64_2")(path, flags);
}
int openat(int dirfd, char const* path, int flags, ...) {
    if (int fd = inert_device_open(path); fd >= 0) return fd;
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    return real<int (*)(int, char const*, int, ...)>("openat")(dirfd, path, flags, mode);
}
int openat64(int dirfd, char const* path, int flags, ...) {
    if (int fd = inert_device_open(path); fd >= 0) return fd;
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    return real<int (*)(int, char const*, int, ...)>("openat64")(dirfd, path, flags, mode);
}

int ioctl(int fd, unsigned long req, ...) {
    va_list ap;
    va_start(ap, req);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    if (fd >= 0 && fd < max_fd && evtchn_fd[fd]) {
        // xen/sys/evtchn.h: type 'E'; 0 bind_virq, 1 bind_interdomain, 2 bind_unbound_port
        // return the new local port; unbind, notify, reset, restrict succeed.
        if (_IOC_TYPE(req) != 'E') {
            errno = ENOTTY;
            return -1;
        }
        return _IOC_NR(req) <= 2 ? static_cast<int>(next_port++) : 0;
    }
    return real<int (*)(int, unsigned long, void*)>("ioctl")(fd, req, arg);
}

int setrlimit(__rlimit_resource_t what, rlimit const* r) {
    rlimit lim = *r;
    if (what == RLIMIT_NOFILE) {
        rlimit cur{};
        ::getrlimit(RLIMIT_NOFILE, &cur);
        if (lim.rlim_max > cur.rlim_max) lim.rlim_max = cur.rlim_max;
        if (lim.rlim_cur > lim.rlim_max) lim.rlim_cur = lim.rlim_max;
    }
    return real<int (*)(__rlimit_resource_t, rlimit const*)>("setrlimit")(what, &lim);
}
int setrlimit64(__rlimit_resource_t what, rlimit64 const* r) {
    rlimit lim{r->rlim_cur, r->rlim_max};
    return setrlimit(what, &lim);
}

int bind(int fd, sockaddr const* addr, socklen_t len) {
    if (addr && addr->sa_family == AF_UNIX) {
        auto const* un = reinterpret_cast<sockaddr_un const*>(addr);
        if (char const* to = moved(un->sun_path); to != un->sun_path) {
            sockaddr_un a{};
            a.sun_family = AF_UNIX;
            std::strncpy(a.sun_path, to, sizeof a.sun_path - 1);
            return real<int (*)(int, sockaddr const*, socklen_t)>("bind")(fd, reinterpret_cast<sockaddr*>(&a),
                                                                          sizeof a);
        }
    }
    return real<int (*)(int, sockaddr const*, socklen_t)>("bind")(fd, addr, len);
}
int unlink(char const* path) { return real<int (*)(char const*)>("unlink")(moved(path)); }
int mkdir(char const* path, mode_t mode) {
    // The fixed socket's directory: not created on the host.
    if (std::getenv("KXEN_XS_SHIM_SOCKET") && !std::strcmp(path, "/var/run/xenstored")) return 0;
    return real<int (*)(char const*, mode_t)>("mkdir")(path, mode);
}

} // extern "C"
