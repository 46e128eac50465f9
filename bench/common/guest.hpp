// What both benchmarks do with minios through libkxl: build a DomainConfig the way
// `kxl create CFG key=value...` does, and wait for a domain to shut down or print a line.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <string>
#include <vector>
#include "privcmd/client.hpp"
#include "toolstack/xl_cfg_domain.hpp"

namespace kxen::bench {

// load_xl_cfg + apply_overrides + domain_config_from, errors as text.
auto domain_config(std::string const& cfg_path, std::vector<std::string> const& overrides)
    -> std::expected<toolstack::DomainConfig, std::string>;

// Waits (domain_wait, no polling) until the domain reports shutdown; returns the shutdown
// reason (SHUTDOWN_poweroff, ...) or why it could not.
auto wait_shutdown(privcmd::Client& c, std::uint16_t domid, std::chrono::milliseconds timeout)
    -> std::expected<unsigned, std::string>;

// Waits until the domain's console holds `text`; false on timeout or if the domain is gone.
bool wait_console(privcmd::Client& c, std::uint16_t domid, std::string const& text,
                  std::chrono::milliseconds timeout);

// The domid of the domain called `name`, or nothing.
std::optional<std::uint16_t> find_domain(privcmd::Client& c, std::string const& name);

} // namespace kxen::bench
