// kxl console: the guest's console_io output (and later its PV console), Ctrl-] detaches.
#include <poll.h>
#include <termios.h>
#include <unistd.h>
#include <cstdio>
#include <fmt/format.h>
#include "toolstack/kxl/kxl.hpp"

namespace kxen::kxl {
namespace {

// Raw mode while attached, so Ctrl-] arrives as a byte; restored however we leave.
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

bool user_detached() {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return false;
    char buf[64];
    auto n = ::read(STDIN_FILENO, buf, sizeof buf);
    for (ssize_t i = 0; i < n; ++i)
        if (buf[i] == 0x1d) return true;   // Ctrl-]
    return false;
}

} // namespace

int attach_console(privcmd::Client& c, std::uint16_t domid) {
    RawTerminal term;
    std::uint64_t pos = 0;
    while (true) {
        if (term.active() && user_detached()) return 0;
        auto s = c.console_read(domid, pos, 200);
        if (!s) return s.error() == XenErr::srch ? 0 : 1;   // domain gone: console closes, as xl's
        if (!s->empty()) {
            std::fwrite(s->data(), 1, s->size(), stdout);
            std::fflush(stdout);
        }
    }
}

int cmd_console(Globals const& g, std::string const& dom) {
    auto c = connect(g);
    if (!c) return 1;
    auto id = resolve_domain(*c, dom);
    if (!id) return 1;
    return attach_console(*c, *id);
}

} // namespace kxen::kxl
