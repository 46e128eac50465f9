// kxen::xenstore request handlers, one per XS_* message type (Xen's wire_funcs[] in
// tools/xenstored/core.c). A handler answers through the Request, or returns the error that
// the server sends as XS_ERROR.
#pragma once
#include <string_view>
#include "xenstore/db.hpp"
#include "xenstore/server.hpp"

namespace kxen::xenstore {

struct Request {
    Server& server;
    Connection& conn;
    Transaction* tx;    // the request's transaction (tx_id), unless the type ignores it
    MsgHeader hdr;
    std::string_view body;

    Db db() {
        return Db{server.store(), tx, conn.who(), server.config().quotas, server};
    }
    // Queues the reply (same type as the request); E2BIG instead if it would not fit.
    void reply(std::string_view payload);
    void ack() { reply(std::string_view{"OK", 3}); }
    void error(XsErr e);
    // The canonical name for a path argument, as this connection's paths resolve.
    XsResult<std::string> canonical(std::string_view raw, bool allow_special) const;
};

using Handler = XsResult<void> (*)(Request&);

namespace ops {
XsResult<void> read(Request&);
XsResult<void> write(Request&);
XsResult<void> mkdir(Request&);
XsResult<void> rm(Request&);
XsResult<void> directory(Request&);
XsResult<void> directory_part(Request&);
XsResult<void> get_perms(Request&);
XsResult<void> set_perms(Request&);
XsResult<void> watch(Request&);
XsResult<void> unwatch(Request&);
XsResult<void> reset_watches(Request&);
XsResult<void> transaction_start(Request&);
XsResult<void> transaction_end(Request&);
XsResult<void> introduce(Request&);
XsResult<void> release(Request&);
XsResult<void> get_domain_path(Request&);
XsResult<void> is_domain_introduced(Request&);
XsResult<void> resume(Request&);
XsResult<void> set_target(Request&);
XsResult<void> control(Request&);
} // namespace ops

// Parses a decimal number the way Xen's atoi() use tolerates: leading digits, else 0.
unsigned long parse_ulong(std::string_view s);

} // namespace kxen::xenstore
