// kxen::xenstore::StateSink: what must survive a restart of kxenstored, as it changes: the
// store's nodes (through StoreListener), the introduced domains, and the watches that
// guests registered on their rings (guests cannot know they should register them again).
// Socket clients' watches and every transaction die with their connection, as in Xen.
#pragma once
#include <cstdint>
#include <string_view>
#include "xenstore/domains.hpp"
#include "xenstore/store.hpp"

namespace kxen::xenstore {

class StateSink : public StoreListener {
public:
    virtual void domain_saved(Domain const& d) = 0;
    virtual void domain_released(DomId id) = 0;
    virtual void watch_added(DomId id, std::string_view path, std::string_view token,
                             std::uint32_t prefix_len) = 0;
    virtual void watch_removed(DomId id, std::string_view path, std::string_view token) = 0;
    virtual void watches_cleared(DomId id) = 0;
    // Called before any reply goes out: what changed so far must be saved first, so that a
    // client never sees "OK" for a change a crash would lose.
    virtual void flush() = 0;
};

} // namespace kxen::xenstore
