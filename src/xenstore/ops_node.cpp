// Node requests: XS_READ, XS_WRITE, XS_MKDIR, XS_RM, XS_DIRECTORY, XS_DIRECTORY_PART,
// XS_GET_PERMS, XS_SET_PERMS (Xen's core.c do_* functions, same argument rules).
#include <array>
#include <fmt/format.h>
#include "xenstore/ops.hpp"
#include "xenstore/tree.hpp"

namespace kxen::xenstore::ops {
namespace {

// The request's single path argument, canonical.
XsResult<std::string> path_arg(Request& r, bool allow_special) {
    auto arg = one_arg(r.body);
    if (!arg) return xs_fail(XsErr::inval);
    return r.canonical(*arg, allow_special);
}

} // namespace

XsResult<void> read(Request& r) {
    auto name = path_arg(r, false);
    if (!name) return std::unexpected(name.error());
    auto db = r.db();
    auto node = get_checked(db, *name, XS_PERM_READ);
    if (!node) return std::unexpected(node.error());
    r.reply((*node)->value);
    return {};
}

XsResult<void> write(Request& r) {
    // path\0 then the value, which may hold NULs of its own.
    std::array<std::string_view, 1> vec;
    if (get_strings(r.body, vec) < 1) return xs_fail(XsErr::inval);
    auto name = r.canonical(vec[0], false);
    if (!name) return std::unexpected(name.error());
    auto db = r.db();
    if (auto w = write_node(db, *name, r.body.substr(vec[0].size() + 1)); !w) return w;
    r.ack();
    return {};
}

XsResult<void> mkdir(Request& r) {
    auto name = path_arg(r, false);
    if (!name) return std::unexpected(name.error());
    auto db = r.db();
    if (auto m = mkdir_node(db, *name); !m) return m;
    r.ack();
    return {};
}

XsResult<void> rm(Request& r) {
    auto name = path_arg(r, false);
    if (!name) return std::unexpected(name.error());
    auto db = r.db();
    if (auto m = rm_node(db, *name); !m) return m;
    r.ack();
    return {};
}

XsResult<void> directory(Request& r) {
    auto name = path_arg(r, false);
    if (!name) return std::unexpected(name.error());
    auto db = r.db();
    auto node = get_checked(db, *name, XS_PERM_READ);
    if (!node) return std::unexpected(node.error());
    r.reply(children_list(**node));   // E2BIG if too long: the client then uses DIRECTORY_PART
    return {};
}

// path\0offset\0 -> generation\0 then children names from the byte offset into the
// NUL-separated list, as many as fit; an extra empty string marks the end of the list
// (Xen's send_directory_part()).
XsResult<void> directory_part(Request& r) {
    if (count_strings(r.body) != 2) return xs_fail(XsErr::inval);
    std::array<std::string_view, 2> vec;
    get_strings(r.body, vec);
    auto name = r.canonical(vec[0], false);
    if (!name) return std::unexpected(name.error());
    auto db = r.db();
    auto node = get_checked(db, *name, XS_PERM_READ);
    if (!node) return std::unexpected(node.error());
    std::size_t off = parse_ulong(vec[1]);

    std::string children = children_list(**node);
    std::string out = fmt::format("{}", (*node)->generation);
    out.push_back('\0');
    std::size_t genlen = out.size();
    if (off >= children.size()) {
        out.push_back('\0');
        r.reply(out);
        return {};
    }
    std::size_t len = 0, maxlen = XENSTORE_PAYLOAD_MAX - genlen - 1;
    while (len + std::strlen(children.data() + off + len) < maxlen) {
        len += std::strlen(children.data() + off + len) + 1;
        if (off + len == children.size()) break;
    }
    out.append(children, off, len);
    if (off + len == children.size()) out.push_back('\0');
    r.reply(out);
    return {};
}

XsResult<void> get_perms(Request& r) {
    auto name = path_arg(r, true);
    if (!name) return std::unexpected(name.error());
    auto db = r.db();
    auto node = get_checked(db, *name, XS_PERM_READ);
    if (!node) return std::unexpected(node.error());
    r.reply(format_perms((*node)->perms));
    return {};
}

// path\0 then one "<r|w|b|n><domid>\0" per ACL entry, the owner first.
XsResult<void> set_perms(Request& r) {
    std::size_t num = count_strings(r.body);
    if (num < 2) return xs_fail(XsErr::inval);
    --num;
    if (!r.conn.who().privileged && num > r.server.config().quotas.node_permissions)
        return xs_fail(XsErr::nospc);
    std::array<std::string_view, 1> vec;
    get_strings(r.body, vec);
    auto perms = parse_perms(r.body.substr(vec[0].size() + 1), num);
    if (!perms) return std::unexpected(perms.error());
    auto name = r.canonical(vec[0], true);
    if (!name) return std::unexpected(name.error());
    auto db = r.db();
    if (auto s = set_node_perms(db, *name, std::move(*perms)); !s) return s;
    r.ack();
    return {};
}

} // namespace kxen::xenstore::ops
