// A domain's xenstore presence, as libxl gives it: the /local/domain/<id>, /vm/<uuid> and
// /libxl/<id> trees (libxl__domain_make and libxl__build_post), the introduction that connects
// the guest's store ring, and their removal when the domain goes.
#pragma once
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include "privcmd/client.hpp"
#include "toolstack/xl_cfg_domain.hpp"
#include "xenstore/client/xs.hpp"

namespace kxen::kxl {

struct StoreChannels {
    std::uint64_t store_gfn = 0;
    std::uint32_t store_port = 0;
    std::uint64_t console_gfn = 0;
    std::uint32_t console_port = 0;
};

// The host's store, or nothing (with the reason) when no kxenstored serves it.
xs::Result<xs::Handle> open_store(privcmd::Client& c);

std::string domain_path(std::uint16_t domid);

// Domains' names: kxend's (kxl gives it at creation) or, for a domain another toolstack built
// (xl, which tells the hypervisor none, as on Xen), the one in the store.
class DomainNames {
public:
    explicit DomainNames(privcmd::Client& c) : c_{c} {}
    std::string operator()(std::uint16_t domid);

private:
    privcmd::Client& c_;
    std::optional<xs::Handle> xs_;
    bool opened_ = false;
};

// Writes the domain's tree in one transaction, then introduces the domain to the store.
std::expected<void, std::string> announce_domain(xs::Handle& xs, std::uint16_t domid,
                                                 toolstack::DomainConfig const& cfg, StoreChannels const& ch);

// Releases the domain from the store and removes its trees; what is already gone is fine.
void forget_domain(xs::Handle& xs, std::uint16_t domid);

} // namespace kxen::kxl
