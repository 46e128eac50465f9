#include "xenstore/wire.hpp"
#include <algorithm>
#include <array>

namespace kxen::xenstore {

void encode(std::string& out, std::uint32_t type, std::uint32_t req_id, std::uint32_t tx_id,
            std::string_view payload) {
    MsgHeader h{type, req_id, tx_id, static_cast<std::uint32_t>(payload.size())};
    out.append(reinterpret_cast<char const*>(&h), sizeof h);   // SAFETY: POD, 16 bytes
    out.append(payload);
}

std::optional<std::string_view> one_arg(std::string_view body) {
    if (body.empty() || body.find('\0') != body.size() - 1) return std::nullopt;
    return body.substr(0, body.size() - 1);
}

std::size_t get_strings(std::string_view body, std::span<std::string_view> out) {
    std::size_t n = 0, off = 0;
    for (;;) {
        auto nul = body.find('\0', off);
        if (nul == std::string_view::npos) return n;
        if (n < out.size()) out[n] = body.substr(off, nul - off);
        ++n;
        off = nul + 1;
    }
}

std::size_t count_strings(std::string_view body) {
    return static_cast<std::size_t>(std::count(body.begin(), body.end(), '\0'));
}

std::string_view type_name(std::uint32_t type) {
    static constexpr std::array<std::string_view, XS_TYPE_COUNT> names = [] {
        std::array<std::string_view, XS_TYPE_COUNT> n{};
        n[XS_CONTROL] = "CONTROL";
        n[XS_DIRECTORY] = "DIRECTORY";
        n[XS_READ] = "READ";
        n[XS_GET_PERMS] = "GET_PERMS";
        n[XS_WATCH] = "WATCH";
        n[XS_UNWATCH] = "UNWATCH";
        n[XS_TRANSACTION_START] = "TRANSACTION_START";
        n[XS_TRANSACTION_END] = "TRANSACTION_END";
        n[XS_INTRODUCE] = "INTRODUCE";
        n[XS_RELEASE] = "RELEASE";
        n[XS_GET_DOMAIN_PATH] = "GET_DOMAIN_PATH";
        n[XS_WRITE] = "WRITE";
        n[XS_MKDIR] = "MKDIR";
        n[XS_RM] = "RM";
        n[XS_SET_PERMS] = "SET_PERMS";
        n[XS_WATCH_EVENT] = "WATCH_EVENT";
        n[XS_ERROR] = "ERROR";
        n[XS_IS_DOMAIN_INTRODUCED] = "IS_DOMAIN_INTRODUCED";
        n[XS_RESUME] = "RESUME";
        n[XS_SET_TARGET] = "SET_TARGET";
        n[XS_RESET_WATCHES] = "RESET_WATCHES";
        n[XS_DIRECTORY_PART] = "DIRECTORY_PART";
        return n;
    }();
    if (type < names.size() && !names[type].empty()) return names[type];
    return "UNKNOWN";
}

} // namespace kxen::xenstore
