#include "xenstore/quota.hpp"
#include <algorithm>
#include <array>

namespace kxen::xenstore {

std::span<QuotaItem const> quota_items() {
    static constexpr std::array<QuotaItem, 8> items{{
        {"nodes", "Nodes per domain", &Quotas::nodes},
        {"watches", "Watches per domain", &Quotas::watches},
        {"outstanding", "Outstanding requests per domain", &Quotas::outstanding},
        {"transactions", "Active transactions per domain", &Quotas::transactions},
        {"transaction-nodes", "Max. number of accessed nodes per transaction",
         &Quotas::transaction_nodes},
        {"node-permissions", "Max. number of permissions per node", &Quotas::node_permissions},
        {"path-max", "Max. length of a node path", &Quotas::path_max},
        {"node-size", "Max. size of a node", &Quotas::node_size},
    }};
    return items;
}

bool set_quota(Quotas& q, std::string_view name, unsigned value) {
    for (auto const& item : quota_items()) {
        if (item.name != name) continue;
        if (item.field == &Quotas::path_max) value = std::min(value, unsigned{XENSTORE_REL_PATH_MAX});
        q.*item.field = value;
        return true;
    }
    return false;
}

} // namespace kxen::xenstore
