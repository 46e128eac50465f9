#include <cstdio>
#include <fmt/format.h>
#include "toolstack/kxl/kxl.hpp"

namespace kxen::kxl {

std::string describe(XenErr e) {
    return fmt::format("error {} ({})", -static_cast<int>(e), privcmd::xen_strerror(e));
}

std::optional<privcmd::Client> connect(Globals const& g) {
    auto path = privcmd::socket_path(g.socket);
    auto c = privcmd::Client::connect(path);
    if (!c) {
        fmt::print(stderr, "kxl: cannot reach kxend: {} (is kxend running? --socket or KXEN_SOCKET "
                           "names its socket)\n", c.error().message());
        return std::nullopt;
    }
    return std::move(*c);
}

std::optional<std::uint16_t> resolve_domain(privcmd::Client& c, std::string const& what) {
    if (!what.empty() && what.find_first_not_of("0123456789") == std::string::npos && what.size() < 6) {
        auto id = static_cast<std::uint16_t>(std::stoul(what));
        if (c.domain_info(id)) return id;
        fmt::print(stderr, "kxl: domain {} does not exist\n", what);
        return std::nullopt;
    }
    if (auto list = c.domain_list()) {
        for (auto const& d : *list) {
            auto n = c.get_name(d.domain);
            if (n && *n == what) return d.domain;
        }
    }
    fmt::print(stderr, "kxl: '{}' is an invalid domain identifier\n", what);
    return std::nullopt;
}

} // namespace kxen::kxl
