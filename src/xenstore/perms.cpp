#include "xenstore/perms.hpp"
#include <cstdlib>
#include <fmt/format.h>

namespace kxen::xenstore {

XsResult<Perms> parse_perms(std::string_view strings, std::size_t num) {
    Perms perms;
    perms.reserve(num);
    std::size_t off = 0;
    for (std::size_t i = 0; i < num; ++i) {
        auto nul = strings.find('\0', off);
        if (nul == std::string_view::npos || nul - off < 2) return xs_fail(XsErr::inval);
        std::string_view s = strings.substr(off, nul - off);
        Perm p;
        switch (s[0]) {
        case 'r': p.bits = XS_PERM_READ; break;
        case 'w': p.bits = XS_PERM_WRITE; break;
        case 'b': p.bits = XS_PERM_READ | XS_PERM_WRITE; break;
        case 'n': p.bits = XS_PERM_NONE; break;
        default: return xs_fail(XsErr::inval);
        }
        // strtol(..., 0) as Xen's library does: decimal, 0x hex or 0 octal. The string ends in
        // the NUL found above, so strtol stops there at the latest.
        char* end = nullptr;
        long id = std::strtol(s.data() + 1, &end, 0);
        if (end != s.data() + s.size()) return xs_fail(XsErr::inval);
        p.id = static_cast<DomId>(id);
        perms.push_back(p);
        off = nul + 1;
    }
    return perms;
}

void append_perms(std::string& out, Perms const& perms) {
    for (auto const& p : perms) {
        char letter = 'n';
        switch (p.bits & (XS_PERM_READ | XS_PERM_WRITE)) {
        case XS_PERM_READ: letter = 'r'; break;
        case XS_PERM_WRITE: letter = 'w'; break;
        case XS_PERM_READ | XS_PERM_WRITE: letter = 'b'; break;
        default: break;
        }
        fmt::format_to(std::back_inserter(out), "{}{}", letter, p.id);
        out.push_back('\0');
    }
}

std::string format_perms(Perms const& perms) {
    std::string s;
    append_perms(s, perms);
    return s;
}

unsigned perm_for(Identity const& who, Perms const& perms) {
    constexpr unsigned all = XS_PERM_READ | XS_PERM_WRITE | XS_PERM_OWNER;
    if (perms.empty()) return who.privileged ? all : XS_PERM_NONE;
    auto is_me = [&](DomId id) { return id == who.id || (who.target && id == *who.target); };
    if (who.privileged || is_me(perms[0].id)) return all;
    for (std::size_t i = 1; i < perms.size(); ++i)
        if (!(perms[i].bits & XS_PERM_IGNORE) && is_me(perms[i].id))
            return perms[i].bits & (XS_PERM_READ | XS_PERM_WRITE);
    return perms[0].bits & (XS_PERM_READ | XS_PERM_WRITE);
}

} // namespace kxen::xenstore
