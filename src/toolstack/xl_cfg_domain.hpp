// kxen::toolstack::DomainConfig: the typed, validated domain description `kxl create`
// builds from an xl.cfg, with xl's defaults (xl.cfg(5), tools/xl/xl_parse.c).
#pragma once
#include "toolstack/xl_cfg.hpp"
#include "toolstack/xl_cfg_uuid.hpp"
#include "toolstack/xl_disk.hpp"

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kxen::toolstack {

// kxen runs PVH guests only; PV and HVM configs are refused with a message saying so.
enum class DomainType { pvh };

// What to do when the guest shuts down for a reason (xl.cfg on_poweroff= etc.).
enum class ShutdownAction {
    destroy,
    restart,
    rename_restart,
    preserve,
    coredump_destroy,
    coredump_restart,
    soft_reset,
};

// The xl.cfg spelling: "destroy", "rename-restart", "coredump-destroy", ...
std::string_view to_string(ShutdownAction a);
std::optional<ShutdownAction> shutdown_action_from(std::string_view text);

// A setting DomainConfig does not interpret (disk, vif, ...), kept so the caller can warn
// or handle it; a config is not refused for carrying one.
struct IgnoredSetting {
    std::string key;
    std::string source;
    int line = 0;
};

struct DomainConfig {
    std::string name;
    DomainType type = DomainType::pvh;
    Uuid uuid;
    bool uuid_generated = false;    // no `uuid` in the config: a random v4 one was made
    std::uint64_t memory_mib = 128; // xl's default
    std::uint64_t maxmem_mib = 128; // defaults to memory
    unsigned vcpus = 1;             // online at boot
    unsigned max_vcpus = 1;         // `maxvcpus`, defaults to vcpus
    std::string kernel;             // as written: like xl, a relative path is relative to the cwd
    std::optional<std::string> ramdisk;
    std::string cmdline;            // `cmdline`, else "root=ROOT EXTRA" from `root`/`extra`
    ShutdownAction on_poweroff = ShutdownAction::destroy;
    ShutdownAction on_reboot = ShutdownAction::restart;
    ShutdownAction on_crash = ShutdownAction::destroy;
    ShutdownAction on_watchdog = ShutdownAction::destroy;
    ShutdownAction on_soft_reset = ShutdownAction::soft_reset;
    std::vector<DiskSpec> disks;         // `disk = [...]`, in order; vdevs are distinct
    std::vector<IgnoredSetting> ignored;
    std::vector<std::string> warnings;   // things xl also warns about; worth printing
    // The xl.cfg text this came from (overrides appended), as xl keeps it for save files.
    std::string text;

    [[nodiscard]] std::uint64_t memory_bytes() const { return memory_mib << 20; }
};

// Validates and types `cfg`. Each error names the file and line of the offending setting
// (or only the file, for a missing required setting).
auto domain_config_from(XlCfg const& cfg) -> std::expected<DomainConfig, CfgError>;

} // namespace kxen::toolstack
