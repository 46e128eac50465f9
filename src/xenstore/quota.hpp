// kxen::xenstore quotas: the per-domain limits of Xen's xenstored, with its defaults
// (tools/xenstored/domain.c hard_quotas[]) and names (the -Q <name>=<n> option and the
// XS_CONTROL "quota" command). They bind unprivileged domains only; dom0 and the socket's
// clients are not limited, except by path-max and the wire's XENSTORE_PAYLOAD_MAX.
#pragma once
#include <span>
#include <string_view>
#include <cerrno>
#include <cstdint>
#include <xen/io/xs_wire.h>

namespace kxen::xenstore {

struct Quotas {
    unsigned nodes = 1000;                          // nodes a domain owns            (-E)
    unsigned watches = 128;                         // watches per domain             (-W)
    unsigned outstanding = 20;                      // requests answered, not yet read
    unsigned transactions = 10;                     // open transactions per domain   (-t)
    unsigned transaction_nodes = 1024;              // nodes one transaction may touch
    unsigned node_permissions = 5;                  // entries in one node's ACL      (-A)
    unsigned path_max = XENSTORE_REL_PATH_MAX;      // chars after /local/domain/<id>/ (-M)
    unsigned node_size = 2048;                      // perms + data + children names (-S)
};

struct QuotaItem {
    std::string_view name;    // Xen's name, as in -Q name=value
    std::string_view descr;
    unsigned Quotas::*field;
};
std::span<QuotaItem const> quota_items();

// Sets the named quota; false for an unknown name. path-max is capped at XENSTORE_REL_PATH_MAX.
bool set_quota(Quotas& q, std::string_view name, unsigned value);

} // namespace kxen::xenstore
