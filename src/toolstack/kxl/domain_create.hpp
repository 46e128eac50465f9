// Building a PVH domain from its config, as libxl's domain_create + libxc's dom builder do.
#pragma once
#include <cstdint>
#include <expected>
#include <string>
#include "privcmd/client.hpp"
#include "toolstack/xl_cfg_domain.hpp"

namespace kxen::kxl {

// Creates, names, fills and (unless paused) starts the domain; on failure nothing is left.
std::expected<std::uint16_t, std::string> create_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg,
                                                        bool paused);

// xl's per-domain daemon: waits for the domain's shutdown and applies on_poweroff/on_reboot/
// on_crash (destroy, restart, preserve). Returns when there is nothing left to watch.
void monitor_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg, std::uint16_t domid);

} // namespace kxen::kxl
