// kxen::xenstore wire framing: struct xsd_sockmsg headers and NUL-separated arguments, as in
// Xen's io/xs_wire.h. Everything here works on bytes a client sent, so nothing trusts them.
#pragma once
#include <cerrno>     // before xs_wire.h: its xsd_errors table needs the E* names
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <xen/io/xs_wire.h>

namespace kxen::xenstore {

using MsgHeader = xsd_sockmsg;
inline constexpr std::size_t header_size = sizeof(xsd_sockmsg);
static_assert(header_size == 16, "xsd_sockmsg is four uint32_t");

inline MsgHeader decode_header(char const* p) {
    MsgHeader h;
    std::memcpy(&h, p, sizeof h);   // host byte order, as Xen's clients send it
    return h;
}

// Appends one message, header then payload, to out.
void encode(std::string& out, std::uint32_t type, std::uint32_t req_id, std::uint32_t tx_id,
            std::string_view payload);

// Xen's onearg(): the payload is exactly one string, with its NUL at the end and nowhere else.
std::optional<std::string_view> one_arg(std::string_view body);

// Xen's get_strings(): fills out with the first NUL-terminated strings of body and returns how
// many there are in all. Bytes after the last NUL are not a string.
std::size_t get_strings(std::string_view body, std::span<std::string_view> out);

// Xen's xenstore_count_strings(): the number of NULs in body.
std::size_t count_strings(std::string_view body);

// "READ", "WRITE", ... for logs; "UNKNOWN" for anything else.
std::string_view type_name(std::uint32_t type);

} // namespace kxen::xenstore
