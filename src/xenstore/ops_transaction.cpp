// XS_TRANSACTION_START / XS_TRANSACTION_END (Xen's transaction.c). Transactions do not nest;
// ending one with "T" commits it or fails with EAGAIN, "F" abandons it.
#include <fmt/format.h>
#include "xenstore/ops.hpp"

namespace kxen::xenstore::ops {

XsResult<void> transaction_start(Request& r) {
    if (r.tx) return xs_fail(XsErr::busy);
    if (!r.conn.who().privileged &&
        r.conn.transactions() >= r.server.config().quotas.transactions)
        return xs_fail(XsErr::nospc);
    auto& tx = r.conn.start_transaction();
    auto id = fmt::format("{}", tx.id());
    id.push_back('\0');
    r.reply(id);
    return {};
}

XsResult<void> transaction_end(Request& r) {
    auto arg = one_arg(r.body);
    if (!arg || (*arg != "T" && *arg != "F")) return xs_fail(XsErr::inval);
    if (!r.tx) return xs_fail(XsErr::noent);
    Transaction* tx = r.tx;
    r.tx = nullptr;
    XsResult<void> result;
    if (*arg == "T") {
        auto const& who = r.conn.who();
        long delta = tx->owned_delta(who.id);
        if (!who.privileged && delta > 0 &&
            r.server.store().owned(who.id) + delta > r.server.config().quotas.nodes) {
            result = xs_fail(XsErr::nospc);
        } else {
            result = tx->commit(r.server.store(), r.server);
        }
    }
    r.conn.end_transaction(tx->id());   // gone, committed or not
    if (!result) return result;
    r.ack();
    return {};
}

} // namespace kxen::xenstore::ops
