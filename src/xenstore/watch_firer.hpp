// kxen::xenstore::WatchFirer: where "this node changed" goes. The server matches it against
// the registered watches; a transaction collects it until commit.
#pragma once
#include <string_view>
#include "xenstore/perms.hpp"

namespace kxen::xenstore {

class WatchFirer {
public:
    virtual ~WatchFirer() = default;
    // path changed. exact: only watches on exactly path fire (descendants of a removed
    // subtree), else watches on path and its ancestors. perms: the node's ACL if the caller
    // has it (null: look it up); old_perms: its ACL before the change, so that a watcher who
    // just lost access still hears of it.
    virtual void fire(std::string_view path, bool exact, Perms const* perms,
                      Perms const* old_perms) = 0;
};

} // namespace kxen::xenstore
