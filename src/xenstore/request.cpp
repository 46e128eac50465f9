#include "xenstore/ops.hpp"
#include "xenstore/path.hpp"

namespace kxen::xenstore {

void Request::reply(std::string_view payload) {
    if (payload.size() > XENSTORE_PAYLOAD_MAX) {
        error(XsErr::e2big);
        return;
    }
    conn.queue(hdr, payload);
    server.note_output(conn);
}

void Request::error(XsErr e) {
    MsgHeader h = hdr;
    h.type = XS_ERROR;
    std::string payload{xs_err_name(e)};
    payload.push_back('\0');
    conn.queue(h, payload);
    server.note_output(conn);
}

XsResult<std::string> Request::canonical(std::string_view raw, bool allow_special) const {
    return canonicalize(raw, conn.implicit_path(), allow_special,
                        server.config().quotas.path_max);
}

unsigned long parse_ulong(std::string_view s) {
    unsigned long v = 0;
    for (char ch : s) {
        if (ch < '0' || ch > '9') break;
        v = v * 10 + static_cast<unsigned long>(ch - '0');
        if (v > 0xffffffffUL) return 0xffffffffUL;
    }
    return v;
}

} // namespace kxen::xenstore
