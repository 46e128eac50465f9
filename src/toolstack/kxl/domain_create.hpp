// Building a PVH domain from its config, as libxl's domain_create + libxc's dom builder do.
#pragma once
#include <cstdint>
#include <expected>
#include <string>
#include "privcmd/client.hpp"
#include <span>
#include <utility>
#include <vector>
#include "toolstack/build/guest_phys_writer.hpp"
#include "toolstack/build/pvh.hpp"
#include "toolstack/kxl/domain_xenstore.hpp"
#include "toolstack/xl_cfg_domain.hpp"

namespace kxen::kxl {

// Creates, names, fills and (unless paused) starts the domain; with a store, also writes its
// xenstore tree and introduces it. On failure nothing is left.
std::expected<std::uint16_t, std::string> create_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg,
                                                        bool paused, xs::Handle* store = nullptr);

// Destroys the domain and, with a store, removes what it has there.
XenResult<void> destroy_domain(privcmd::Client& c, xs::Handle* store, std::uint16_t domid);

// The pieces of a build that restore shares.

// A domain's RAM through foreign mappings of each populated run.
class GuestMemory final : public toolstack::build::GuestPhysWriter {
public:
    void add(std::uint64_t gpa, privcmd::ForeignMap m) { maps_.push_back({gpa, std::move(m)}); }
    std::span<std::byte> map(std::uint64_t gpa, std::size_t len) override;

private:
    std::vector<std::pair<std::uint64_t, privcmd::ForeignMap>> maps_;
};

// createdomain, name, maxmem. The domain is left paused and empty.
std::expected<std::uint16_t, std::string> make_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg,
                                                      std::string const& name);
// Populates RAM and the special pages as `layout` says, and maps them into `mem`.
std::expected<void, std::string> populate_ram(privcmd::Client& c, std::uint16_t domid,
                                              toolstack::build::PvhLayout const& layout, GuestMemory& mem,
                                              bool readonly = false);
std::expected<void, std::string> set_e820(privcmd::Client& c, std::uint16_t domid,
                                          toolstack::build::PvhLayout const& layout);
// Sets the store and console page params and offers fresh event channels for them to dom0.
std::expected<StoreChannels, std::string> offer_channels(privcmd::Client& c, std::uint16_t domid);

// The config a domain was created from, kept (as xl's userdata) for `kxl save`.
void remember_config(privcmd::Client& c, std::uint16_t domid, toolstack::DomainConfig const& cfg);
void remember_config(privcmd::Client& c, std::uint16_t domid, std::string const& text);
// For a domain xl built, the config libxl keeps for it (/var/lib/xen/userdata-d.<id>.<uuid>.libxl-json).
std::optional<std::string> remembered_config(privcmd::Client& c, std::uint16_t domid);
// xl.cfg text for a libxl_domain_config in JSON (as xl save files and libxl's userdata hold it).
std::expected<std::string, std::string> config_from_libxl_json(std::string const& text);
// The config kept for the domain, which devices added and removed since creation have changed
// (block-attach, block-detach), as libxl keeps a domain's config; `fallback` if there is none.
toolstack::DomainConfig current_config(privcmd::Client& c, std::uint16_t domid,
                                       toolstack::DomainConfig const& fallback);

// xl's per-domain daemon: waits for the domain's shutdown and applies on_poweroff/on_reboot/
// on_crash (destroy, restart, preserve). Returns when there is nothing left to watch.
void monitor_domain(privcmd::Client& c, toolstack::DomainConfig const& cfg, std::uint16_t domid);

} // namespace kxen::kxl
