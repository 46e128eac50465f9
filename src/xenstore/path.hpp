// kxen::xenstore paths: node names as Xen's xenstored checks and composes them (core.c's
// canonicalize(), get_parent(), watch.c's is_child()).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include "xenstore/errors.hpp"

namespace kxen::xenstore {

using DomId = std::uint32_t;   // xenstored keeps domids as unsigned int

// "/local/domain/<id>": where a domain's relative paths start (Xen's get_implicit_path()).
std::string domain_path(DomId id);

// An absolute, checked node name for what a client sent, or EINVAL. Relative names are put
// under implicit_prefix. "@name" (special nodes and watches) is accepted only when
// allow_special. The length that counts against path_max is what follows
// "/local/domain/<id>/", as in Xen's canonicalize().
XsResult<std::string> canonicalize(std::string_view raw, std::string_view implicit_prefix,
                                   bool allow_special, std::size_t path_max);

bool is_special(std::string_view path);             // "@introduceDomain", ...
std::string_view parent_of(std::string_view path);  // "/a/b" -> "/a", "/a" -> "/"
std::string_view basename_of(std::string_view path);
std::string child_path(std::string_view parent, std::string_view name);
// True if child is parent or lies below it; everything lies below "/".
bool is_child(std::string_view child, std::string_view parent);

} // namespace kxen::xenstore
