// kxen::xenstore tree operations: what XS_WRITE, XS_MKDIR, XS_RM and XS_SET_PERMS do to the
// tree, with Xen's permission checks and quotas, on a Db (the store, or a transaction).
// Names are canonical already (see canonicalize()).
#pragma once
#include <string>
#include <string_view>
#include "xenstore/db.hpp"

namespace kxen::xenstore {

// The node if the caller may access it with `perm` (XS_PERM_READ, ...). Like Xen's
// get_node(), the error says ENOENT only to callers who may see the parent (else EACCES), so
// that a guest cannot probe for nodes it is not allowed to know of.
XsResult<Node const*> get_checked(Db& db, std::string const& name, unsigned perm);

// XS_WRITE: sets the value, creating the node and missing parents (which inherit their
// parent's ACL; an unprivileged creator owns what it creates).
XsResult<void> write_node(Db& db, std::string const& name, std::string_view value);
// XS_MKDIR: creates the node (empty) unless it exists.
XsResult<void> mkdir_node(Db& db, std::string const& name);
// XS_RM: removes the node and everything below; fine if it is already gone but its parent
// is there.
XsResult<void> rm_node(Db& db, std::string const& name);
// XS_SET_PERMS: needs write access and ownership; unprivileged callers keep the owner.
XsResult<void> set_node_perms(Db& db, std::string const& name, Perms perms);

// Removes the subtree without permission checks (a released domain's nodes).
void rm_subtree(Db& db, std::string const& name);

// The children's names, each with its NUL (the XS_DIRECTORY reply).
std::string children_list(Node const& node);

} // namespace kxen::xenstore
