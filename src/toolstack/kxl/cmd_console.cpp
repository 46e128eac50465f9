// kxl console: the guest's PV console through kxen-backend (interactive), or, for a guest
// without one, its console_io output from kxend. Ctrl-] detaches.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include "common/unique_fd.hpp"
#include "toolstack/kxl/kxl.hpp"

namespace kxen::kxl {
namespace {

constexpr char detach_key = 0x1d;   // Ctrl-]

// Raw mode while attached, so keys reach the guest as typed; restored however we leave.
class RawTerminal {
public:
    RawTerminal() {
        if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
        termios raw = saved_;
        ::cfmakeraw(&raw);
        raw.c_oflag |= OPOST | ONLCR;   // keep newlines readable
        active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    ~RawTerminal() {
        if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    [[nodiscard]] bool active() const { return active_; }

private:
    termios saved_{};
    bool active_ = false;
};

std::string backend_socket(privcmd::Client& c) {
    auto dir = c.state_dir();
    return dir ? *dir + "/console/backend.sock" : std::string{};
}

bool backend_running(privcmd::Client& c) { return ::access(backend_socket(c).c_str(), F_OK) == 0; }

// The backend's console socket, attached to `domid`; empty if the guest has no PV console.
UniqueFd connect_backend(privcmd::Client& c, std::uint16_t domid) {
    auto path = backend_socket(c);
    UniqueFd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(fd.raw(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return {};
    auto hello = fmt::format("{}\n", domid);
    if (::send(fd.raw(), hello.data(), hello.size(), MSG_NOSIGNAL) < 0) return {};
    char ok[3];
    if (::recv(fd.raw(), ok, 3, MSG_WAITALL) != 3 || std::memcmp(ok, "OK\n", 3) != 0) return {};
    return fd;
}

void show(std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
}

// Guest output to stdout, stdin to the guest, until Ctrl-] or the domain is gone. Output is the
// PV console ring (through kxen-backend, when `sock` is open) and the guest's console_io.
int follow(privcmd::Client& c, std::uint16_t domid, int sock, bool interactive) {
    pollfd p[2] = {{sock, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    bool stdin_open = true;
    std::uint64_t pos = 0;
    while (true) {
        auto io = c.console_read(domid, pos, 0);
        if (!io) return io.error() == XenErr::srch ? 0 : 1;   // the domain went away
        if (!io->empty()) show(*io);
        // Without a socket, poll() still sleeps on stdin alone (fd -1 is ignored).
        if (::poll(p, stdin_open ? 2 : 1, 100) < 0 && errno != EINTR) return 1;
        char buf[4096];
        if (sock >= 0 && p[0].revents) {
            auto n = ::recv(sock, buf, sizeof buf, 0);
            if (n <= 0) {
                p[0].fd = sock = -1;   // backend gone: keep following console_io
            } else {
                show({buf, static_cast<std::size_t>(n)});
            }
        }
        if (stdin_open && p[1].revents) {
            auto n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n <= 0) {
                stdin_open = false;   // keep showing output; input is over
                continue;
            }
            auto len = static_cast<std::size_t>(n);
            auto* k = interactive ? static_cast<char*>(std::memchr(buf, detach_key, len)) : nullptr;
            if (sock >= 0) (void)::send(sock, buf, k ? static_cast<std::size_t>(k - buf) : len, MSG_NOSIGNAL);
            if (k) return 0;
        }
    }
}

} // namespace

int attach_console(privcmd::Client& c, std::uint16_t domid) {
    RawTerminal term;
    UniqueFd sock = connect_backend(c, domid);
    // A new guest's PV console appears once the backend's scan finds it (5 times a second).
    for (int i = 0; i < 5 && !sock && backend_running(c); ++i) {
        ::usleep(100'000);
        sock = connect_backend(c, domid);
    }
    return follow(c, domid, sock ? sock.raw() : -1, term.active());
}

int cmd_console(Globals const& g, std::string const& dom) {
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, dom);
    if (!id) return 1;
    return attach_console(*c, *id);
}

} // namespace kxen::kxl
