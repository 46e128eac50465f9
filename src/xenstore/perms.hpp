// kxen::xenstore permissions: Xen's node permission model. A node carries a list of
// (domid, access) entries; the first names the owner and gives everyone else's default, the
// rest are per-domain exceptions. Owners, privileged domains (dom0) and a domain whose target
// owns the node (XS_SET_TARGET, for device-model stub domains) get everything.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <xenstore_lib.h>   // XS_PERM_READ, XS_PERM_WRITE, XS_PERM_OWNER, XS_PERM_IGNORE
#include "xenstore/errors.hpp"
#include "xenstore/path.hpp"

namespace kxen::xenstore {

struct Perm {
    DomId id = 0;
    std::uint8_t bits = XS_PERM_NONE;   // XS_PERM_READ | XS_PERM_WRITE, maybe XS_PERM_IGNORE
    bool operator==(Perm const&) const = default;
};
using Perms = std::vector<Perm>;   // never empty in a node: [0] is the owner

// Who is asking: the connection's domain, and the domain it may act for.
struct Identity {
    DomId id = 0;
    bool privileged = true;            // dom0 (and the socket's clients): no checks, no quotas
    std::optional<DomId> target;       // set by XS_SET_TARGET
};

// Parses num strings "r<id>", "w<id>", "b<id>", "n<id>" laid end to end, each with its NUL
// (xs_strings_to_perms()); EINVAL for anything else.
XsResult<Perms> parse_perms(std::string_view strings, std::size_t num);
// Appends each entry as "<letter><id>\0" (the XS_GET_PERMS reply).
void append_perms(std::string& out, Perms const& perms);
std::string format_perms(Perms const& perms);   // the same, for logs and tests

// XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER, as far as `who` may access a node with perms
// (Xen's perm_for_conn()).
unsigned perm_for(Identity const& who, Perms const& perms);

} // namespace kxen::xenstore
