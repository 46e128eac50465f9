// kxen::xenstore::Domains: the guests the toolstack introduced (XS_INTRODUCE) and not yet
// released: their ring's mfn and event channel port, the domain they may act for
// (XS_SET_TARGET), and their connection if the hypervisor side could map their ring.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include "xenstore/path.hpp"

namespace kxen::xenstore {

class Connection;

struct Domain {
    DomId id = 0;
    std::uint64_t mfn = 0;
    std::uint32_t port = 0;
    std::optional<DomId> target;
    bool shutdown = false;        // @releaseDomain fired for its shutdown
    Connection* conn = nullptr;   // null: introduced, but no ring (DomainPortFactory said ENOSYS)
};

// A domain the hypervisor has, as xenstored sees it.
struct LiveDomain {
    DomId id = 0;
    bool shutdown = false;   // shut down (or dying) but not yet destroyed
};

class Domains {
public:
    Domain* find(DomId id) {
        auto it = map_.find(id);
        return it == map_.end() ? nullptr : &it->second;
    }
    Domain& add(DomId id) {
        auto& d = map_[id];
        d.id = id;
        return d;
    }
    void remove(DomId id) { map_.erase(id); }
    std::map<DomId, Domain> const& all() const { return map_; }
    std::size_t size() const { return map_.size(); }

private:
    std::map<DomId, Domain> map_;   // std::map: Domain addresses stay put
};

} // namespace kxen::xenstore
