// Building a PVH domain from its config, as libxl's domain_create + libxc's dom builder do.
#pragma once
#include <cstdint>
#include <expected>
#include <string>
#include "privcmd/client.hpp"
#include "toolstack/kxl/domain_xenstore.hpp"
#include "toolstack/xl_cfg_domain.hpp"

namespace kxen::kxl {

// Creates, names, fills and (unless paused) starts the domain; with a store, also writes its
// xenstore tree and introduces it. On failure nothing is left.
std::expected<std::uint16_t, std::string> create_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg,
                                                        bool paused, xs::Handle* store = nullptr);

// Destroys the domain and, with a store, removes what it has there.
XenResult<void> destroy_domain(privcmd::Client& c, xs::Handle* store, std::uint16_t domid);

// xl's per-domain daemon: waits for the domain's shutdown and applies on_poweroff/on_reboot/
// on_crash (destroy, restart, preserve). Returns when there is nothing left to watch.
void monitor_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg, std::uint16_t domid);

} // namespace kxen::kxl
