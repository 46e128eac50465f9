// XS_CONTROL (Xen's control.c, used by xenstore-control): "check", "log", "logfile",
// "memreport", "print", "quota", "quota-soft", "help". Dom0 only.
#include <array>
#include <fmt/format.h>
#include <vector>
#include "common/log.hpp"
#include "xenstore/ops.hpp"

namespace kxen::xenstore::ops {
namespace {

using Args = std::vector<std::string_view>;   // the parameters after the command

XsResult<void> reply_text(Request& r, std::string text) {
    text.push_back('\0');
    r.reply(text);
    return {};
}

XsResult<void> check(Request& r, Args const& a) {
    if (!a.empty()) return xs_fail(XsErr::inval);
    if (auto fixed = r.server.store().repair())
        log::warn("xenstore: check: fixed {} store entries", fixed);
    r.ack();
    return {};
}

XsResult<void> accept(Request& r, Args const&) {   // log switches: nothing to switch here
    r.ack();
    return {};
}

XsResult<void> print(Request& r, Args const& a) {
    if (a.size() != 1) return xs_fail(XsErr::inval);
    log::info("control: {}", a[0]);
    r.ack();
    return {};
}

XsResult<void> memreport(Request& r, Args const& a) {
    if (a.size() > 1) return xs_fail(XsErr::inval);
    log::info("memreport: {} nodes, {} watches, {} connections, {} domains",
              r.server.store().size(), r.server.watches().total(), r.server.connections(),
              r.server.domains().size());
    r.ack();
    return {};
}

XsResult<void> quota(Request& r, Args const& a) {
    auto& q = r.server.config().quotas;
    if (a.empty()) {
        std::string s = "Quota settings:\n";
        for (auto const& item : quota_items())
            s += fmt::format("{:<17}: {:>8} {}\n", item.name, q.*item.field, item.descr);
        return reply_text(r, std::move(s));
    }
    if (a[0] == "set") {
        if (a.size() != 3) return xs_fail(XsErr::inval);
        auto v = parse_ulong(a[2]);
        if (v < 1 || !set_quota(q, a[1], static_cast<unsigned>(v))) return xs_fail(XsErr::inval);
        r.ack();
        return {};
    }
    if (a.size() != 1) return xs_fail(XsErr::inval);
    auto id = static_cast<DomId>(parse_ulong(a[0]));
    Domain* d = r.server.domains().find(id);
    if (!d && id != 0) return xs_fail(XsErr::noent);
    std::string s = fmt::format("Domain {}:\n", id);
    s += fmt::format("{:<17}: {:>8}\n", "nodes", r.server.store().owned(id));
    if (d && d->conn) {
        s += fmt::format("{:<17}: {:>8}\n", "watches", r.server.watches().count(*d->conn));
        s += fmt::format("{:<17}: {:>8}\n", "transactions", d->conn->transactions());
        s += fmt::format("{:<17}: {:>8}\n", "outstanding", d->conn->outstanding());
    }
    return reply_text(r, std::move(s));
}

XsResult<void> quota_soft(Request& r, Args const& a) {
    if (!a.empty()) return xs_fail(XsErr::inval);   // no soft quotas: no memory accounting
    return reply_text(r, "Quota settings:\n");
}

XsResult<void> help(Request& r, Args const& a);

struct Command {
    std::string_view name;
    XsResult<void> (*run)(Request&, Args const&);
    std::string_view pars;
};
constexpr std::array<Command, 8> commands{{
    {"check", check, ""},
    {"log", accept, "[on|off|+<switch>|-<switch>]"},
    {"logfile", accept, "<file>"},
    {"memreport", memreport, "[<file>]"},
    {"print", print, "<string>"},
    {"quota", quota, "[set <name> <val>|<domid>]"},
    {"quota-soft", quota_soft, ""},
    {"help", help, ""},
}};

XsResult<void> help(Request& r, Args const& a) {
    if (!a.empty()) return xs_fail(XsErr::inval);
    std::string s;
    for (auto const& c : commands) s += fmt::format("{:<15} {}\n", c.name, c.pars);
    return reply_text(r, std::move(s));
}

} // namespace

XsResult<void> control(Request& r) {
    std::size_t n = count_strings(r.body);
    if (n == 0) return xs_fail(XsErr::inval);
    std::vector<std::string_view> vec(n);
    get_strings(r.body, vec);
    for (auto const& c : commands)
        if (c.name == vec[0]) return c.run(r, Args(vec.begin() + 1, vec.end()));
    return xs_fail(XsErr::inval);
}

} // namespace kxen::xenstore::ops
