#include "common/guest.hpp"
#include <xen/domctl.h>
#include "toolstack/kxl/domain_create.hpp"
#include "toolstack/xl_cfg.hpp"

namespace kxen::bench {

auto domain_config(std::string const& cfg_path, std::vector<std::string> const& overrides)
    -> std::expected<toolstack::DomainConfig, std::string> {
    auto file = toolstack::load_xl_cfg(cfg_path);
    if (!file) return std::unexpected(file.error().to_string());
    if (auto r = file->apply_overrides(overrides); !r) return std::unexpected(r.error().to_string());
    auto cfg = toolstack::domain_config_from(*file);
    if (!cfg) return std::unexpected(cfg.error().to_string());
    return *cfg;
}

auto wait_shutdown(privcmd::Client& c, std::uint16_t domid, std::chrono::milliseconds timeout)
    -> std::expected<unsigned, std::string> {
    auto const end = std::chrono::steady_clock::now() + timeout;
    std::uint64_t seq = 0;   // kxend's sequence starts above 0 once the domain is unpaused
    while (true) {
        // Check after each wait: a change between the check and the next wait bumps the
        // sequence, so that wait returns at once.
        auto info = c.domain_info(domid);
        if (!info) return std::unexpected("domain " + std::to_string(domid) + " is gone");
        if (info->flags & XEN_DOMINF_shutdown)
            return (info->flags >> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::unexpected("timed out waiting for shutdown");
        auto s = c.domain_wait(domid, seq, static_cast<int>(left.count()));
        if (!s) return std::unexpected("domain_wait: " + privcmd::xen_strerror(s.error()));
        seq = *s;
    }
}

bool wait_console(privcmd::Client& c, std::uint16_t domid, std::string const& text,
                  std::chrono::milliseconds timeout) {
    auto const end = std::chrono::steady_clock::now() + timeout;
    std::uint64_t pos = 0;
    std::string seen;
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() < 0) return false;
        auto s = c.console_read(domid, pos, static_cast<int>(std::min<long>(left.count(), 1000)));
        if (!s) return false;
        seen += *s;
        if (seen.find(text) != std::string::npos) return true;
    }
}

auto start_minios(privcmd::Client& c, std::string const& name, std::string const& extra, int memory_mib)
    -> std::expected<std::uint16_t, std::string> {
    auto cfg = domain_config(KXEN_EXAMPLES "/minios.cfg",
                             {"name=\"" + name + "\"", "kernel=\"" KXEN_GUEST "\"",
                              "memory=" + std::to_string(memory_mib), "extra=\"" + extra + "\""});
    if (!cfg) return std::unexpected(cfg.error());
    return kxl::create_domain(c, *cfg, false);
}

std::optional<std::string> console_after(privcmd::Client& c, std::uint16_t domid, std::string const& prefix,
                                         std::chrono::milliseconds timeout, std::string* why) {
    auto const end = std::chrono::steady_clock::now() + timeout;
    std::uint64_t pos = 0;
    std::string seen;
    while (true) {
        if (auto at = seen.find(prefix); at != std::string::npos) {
            auto nl = seen.find('\n', at);
            if (nl != std::string::npos) {
                auto rest = seen.substr(at + prefix.size(), nl - at - prefix.size());
                if (!rest.empty() && rest.back() == '\r') rest.pop_back();
                return rest;
            }
        }
        if (auto f = seen.find(" FAIL"); f != std::string::npos && seen.find("KXEN-TEST") != std::string::npos) {
            if (why) *why = seen.substr(seen.rfind('\n', f) == std::string::npos ? 0 : seen.rfind('\n', f) + 1);
            return std::nullopt;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
        if (left.count() < 0) {
            if (why) *why = "timed out; console so far: " + seen;
            return std::nullopt;
        }
        auto s = c.console_read(domid, pos, static_cast<int>(std::min<long>(left.count(), 1000)));
        if (!s) {
            if (why) *why = "domain is gone; console: " + seen;
            return std::nullopt;
        }
        seen += *s;
    }
}

std::optional<std::uint16_t> find_domain(privcmd::Client& c, std::string const& name) {
    auto all = c.domain_list();
    if (!all) return std::nullopt;
    for (auto const& d : *all) {
        auto n = c.get_name(static_cast<std::uint16_t>(d.domain));
        if (n && *n == name) return static_cast<std::uint16_t>(d.domain);
    }
    return std::nullopt;
}

} // namespace kxen::bench
