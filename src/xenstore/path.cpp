#include "xenstore/path.hpp"
#include <fmt/format.h>

namespace kxen::xenstore {
namespace {

bool valid_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '/' || c == '_' || c == '@';
}

// Offset of what follows "/local/domain/<up to 5 digits>/", or 0 (Xen's sscanf with %5u/%n).
std::size_t local_offset(std::string_view name) {
    constexpr std::string_view prefix = "/local/domain/";
    if (!name.starts_with(prefix)) return 0;
    std::size_t i = prefix.size(), digits = 0;
    while (i < name.size() && digits < 5 && name[i] >= '0' && name[i] <= '9') ++i, ++digits;
    if (digits == 0 || i >= name.size() || name[i] != '/') return 0;
    return i + 1;
}

} // namespace

std::string domain_path(DomId id) { return fmt::format("/local/domain/{}", id); }

XsResult<std::string> canonicalize(std::string_view raw, std::string_view implicit_prefix,
                                   bool allow_special, std::size_t path_max) {
    for (char c : raw)
        if (!valid_char(c)) return xs_fail(XsErr::inval);
    if (!raw.empty() && raw[0] == '@' && !allow_special) return xs_fail(XsErr::inval);

    std::string name;
    if (raw.empty() || (raw[0] != '/' && raw[0] != '@')) {
        name.reserve(implicit_prefix.size() + 1 + raw.size());
        name.append(implicit_prefix).append(1, '/').append(raw);
    } else {
        name.assign(raw);
    }
    if (name.size() > 1 && name.back() == '/') return xs_fail(XsErr::inval);
    if (name.find("//") != std::string::npos) return xs_fail(XsErr::inval);
    if (name.size() - local_offset(name) > path_max) return xs_fail(XsErr::inval);
    return name;
}

bool is_special(std::string_view path) { return !path.empty() && path[0] == '@'; }

std::string_view parent_of(std::string_view path) {
    if (path.size() <= 1) return "/";
    auto slash = path.rfind('/');
    if (slash == 0 || slash == std::string_view::npos) return "/";
    return path.substr(0, slash);
}

std::string_view basename_of(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string child_path(std::string_view parent, std::string_view name) {
    std::string s;
    s.reserve(parent.size() + 1 + name.size());
    if (parent != "/") s.append(parent);
    s.append(1, '/').append(name);
    return s;
}

bool is_child(std::string_view child, std::string_view parent) {
    if (parent == "/") return true;
    if (!child.starts_with(parent)) return false;
    return child.size() == parent.size() || child[parent.size()] == '/';
}

} // namespace kxen::xenstore
