// Watch requests: XS_WATCH, XS_UNWATCH, XS_RESET_WATCHES (Xen's watch.c). A new watch fires
// once at once, after the ack: that is how clients learn the current state without a race.
#include <array>
#include "xenstore/ops.hpp"

namespace kxen::xenstore::ops {
namespace {

struct WatchArgs {
    std::string path;
    std::string_view token;
    bool relative;
};

XsResult<WatchArgs> watch_args(Request& r) {
    std::array<std::string_view, 2> vec;
    if (get_strings(r.body, vec) != 2) return xs_fail(XsErr::inval);
    auto path = r.canonical(vec[0], true);
    if (!path) return std::unexpected(path.error());
    bool relative = !vec[0].starts_with('/') && !vec[0].starts_with('@');
    return WatchArgs{std::move(*path), vec[1], relative};
}

} // namespace

XsResult<void> watch(Request& r) {
    auto a = watch_args(r);
    if (!a) return std::unexpected(a.error());
    auto& watches = r.server.watches();
    if (!r.conn.who().privileged && watches.count(r.conn) >= r.server.config().quotas.watches)
        return xs_fail(XsErr::e2big);
    std::uint32_t prefix =
        a->relative ? static_cast<std::uint32_t>(r.conn.implicit_path().size() + 1) : 0;
    std::string path = a->path;
    if (auto w = watches.add(r.conn, std::move(a->path), std::string{a->token}, prefix); !w)
        return w;
    if (r.conn.domain && r.server.sink())
        r.server.sink()->watch_added(r.conn.who().id, path, a->token, prefix);
    r.ack();
    r.server.queue_event(r.conn, std::string_view{path}.substr(prefix), a->token);
    return {};
}

XsResult<void> unwatch(Request& r) {
    auto a = watch_args(r);
    if (!a) return std::unexpected(a.error());
    if (auto w = r.server.watches().remove(r.conn, a->path, a->token); !w) return w;
    if (r.conn.domain && r.server.sink())
        r.server.sink()->watch_removed(r.conn.who().id, a->path, a->token);
    r.ack();
    return {};
}

XsResult<void> reset_watches(Request& r) {
    r.server.watches().remove_all(r.conn);
    r.conn.drop_transactions();
    if (r.conn.domain && r.server.sink()) r.server.sink()->watches_cleared(r.conn.who().id);
    r.ack();
    return {};
}

} // namespace kxen::xenstore::ops
