#include "xenstore/client/xs.hpp"
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <fmt/format.h>
// xenstore.h has no C++ guard of its own.
extern "C" {
#include <xenstore.h>
}

namespace kxen::xs {
namespace {

Error fail(std::string_view what, std::string_view path) {
    int e = errno;
    return Error{e, fmt::format("xenstore {} {}: {}", what, path, std::strerror(e))};
}

struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
};

} // namespace

std::string socket_path(std::string const& state_dir) {
    if (auto const* env = std::getenv("XENSTORED_PATH"); env && *env) return env;
    return state_dir + "/xenstored/socket";
}

Result<Handle> Handle::open(std::string const& socket) {
    // libxenstore takes the socket path from the environment only; put back what was there,
    // so that processes started later see the user's setting and not ours.
    auto const* old = std::getenv("XENSTORED_PATH");
    std::optional<std::string> saved = old ? std::optional<std::string>{old} : std::nullopt;
    if (::setenv("XENSTORED_PATH", socket.c_str(), 1) != 0) return std::unexpected(fail("open", socket));
    auto* h = ::xs_open(XS_OPEN_SOCKETONLY);
    int e = errno;
    if (saved) ::setenv("XENSTORED_PATH", saved->c_str(), 1);
    else ::unsetenv("XENSTORED_PATH");
    errno = e;
    if (!h) return std::unexpected(fail("connect to", socket));
    return Handle{h};
}

Handle::~Handle() {
    if (h_) ::xs_close(h_);
}

Result<std::string> Handle::read(std::string const& path, Transaction t) {
    unsigned len = 0;
    std::unique_ptr<char, FreeDeleter> v{static_cast<char*>(::xs_read(h_, t, path.c_str(), &len))};
    if (!v) return std::unexpected(fail("read", path));
    return std::string(v.get(), len);
}

Result<void> Handle::write(std::string const& path, std::string_view value, Transaction t) {
    if (!::xs_write(h_, t, path.c_str(), value.data(), static_cast<unsigned>(value.size())))
        return std::unexpected(fail("write", path));
    return {};
}

Result<void> Handle::mkdir(std::string const& path, Transaction t) {
    if (!::xs_mkdir(h_, t, path.c_str())) return std::unexpected(fail("mkdir", path));
    return {};
}

Result<void> Handle::rm(std::string const& path, Transaction t) {
    if (!::xs_rm(h_, t, path.c_str())) return std::unexpected(fail("rm", path));
    return {};
}

Result<std::vector<std::string>> Handle::directory(std::string const& path, Transaction t) {
    unsigned n = 0;
    std::unique_ptr<char*, FreeDeleter> d{::xs_directory(h_, t, path.c_str(), &n)};
    if (!d) return std::unexpected(fail("directory", path));
    return std::vector<std::string>(d.get(), d.get() + n);
}

Result<void> Handle::set_perms(std::string const& path, std::initializer_list<Perm> perms, Transaction t) {
    std::vector<xs_permissions> p;
    for (auto const& e : perms) p.push_back({e.domid, static_cast<unsigned>(e.access)});
    if (!::xs_set_permissions(h_, t, path.c_str(), p.data(), static_cast<unsigned>(p.size())))
        return std::unexpected(fail("set permissions of", path));
    return {};
}

Result<Transaction> Handle::transaction_start() {
    auto t = ::xs_transaction_start(h_);
    if (t == XBT_NULL) return std::unexpected(fail("transaction", "start"));
    return t;
}

Result<void> Handle::transaction_end(Transaction t, bool abort) {
    if (!::xs_transaction_end(h_, t, abort)) return std::unexpected(fail("transaction", "end"));
    return {};
}

Result<void> Handle::introduce(unsigned domid, std::uint64_t store_gfn, unsigned store_port) {
    if (!::xs_introduce_domain(h_, domid, store_gfn, store_port))
        return std::unexpected(fail("introduce domain", std::to_string(domid)));
    return {};
}

Result<void> Handle::release(unsigned domid) {
    if (!::xs_release_domain(h_, domid)) return std::unexpected(fail("release domain", std::to_string(domid)));
    return {};
}

Result<void> Handle::watch(std::string const& path, std::string const& token) {
    if (!::xs_watch(h_, path.c_str(), token.c_str())) return std::unexpected(fail("watch", path));
    return {};
}

Result<void> Handle::unwatch(std::string const& path, std::string const& token) {
    if (!::xs_unwatch(h_, path.c_str(), token.c_str())) return std::unexpected(fail("unwatch", path));
    return {};
}

int Handle::fileno() const { return ::xs_fileno(h_); }

std::optional<std::pair<std::string, std::string>> Handle::next_event() {
    std::unique_ptr<char*, FreeDeleter> ev{::xs_check_watch(h_)};
    if (!ev) return std::nullopt;
    return std::pair{std::string(ev.get()[XS_WATCH_PATH]), std::string(ev.get()[XS_WATCH_TOKEN])};
}

} // namespace kxen::xs
