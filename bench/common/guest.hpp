// What both benchmarks do with minios through libkxl: build a DomainConfig the way
// `kxl create CFG key=value...` does, and wait for a domain to shut down or print a line.
#pragma once
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
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

// Creates and starts minios (KXEN_GUEST, examples/minios.cfg) through libkxl, as `kxl create
// minios.cfg name=NAME memory=MIB extra="EXTRA"` would; returns its domid.
auto start_minios(privcmd::Client& c, std::string const& name, std::string const& extra, int memory_mib = 16)
    -> std::expected<std::uint16_t, std::string>;

// The rest of the first console line that contains `prefix` (after it, up to the newline),
// once that line is complete; nothing on timeout, if the domain is gone, or if a
// "KXEN-TEST ... FAIL" line comes first (then `why` says so).
std::optional<std::string> console_after(privcmd::Client& c, std::uint16_t domid, std::string const& prefix,
                                         std::chrono::milliseconds timeout, std::string* why = nullptr);

// The domid of the domain called `name`, or nothing.
std::optional<std::uint16_t> find_domain(privcmd::Client& c, std::string const& name);

} // namespace kxen::bench
